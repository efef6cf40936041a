// Convolution, average pooling and inference batch norm: forward against the float64 references
// in reference_conv.ts, gradients (input and weights) against finite differences (checkOp).
// Shapes are odd on purpose: channel counts that are not multiples of 4 exercise the padding,
// stride 2 the col2im input gradient, stride 1 the implicit-GEMM input gradient.

import * as ops from "../mod.ts";
import { initGpu, Tensor } from "../mod.ts";
import assert from "node:assert/strict";
import { convLimits, ConvWeightCache } from "../src/autograd/ops/conv.ts";
import { checkOp, type OpCase } from "./gradcheck.ts";
import { type Arr, permute } from "./reference.ts";
import * as RC from "./reference_conv.ts";
import { randn, randu, type Rng, rng } from "./helpers.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

function test(c: OpCase) {
  Deno.test(c.name, () => checkOp(c));
}

const positive = (r: Rng) => r.uniform(0.3, 2);

// Forward sums of up to 7·7·3 products: f32 rounding stays well inside atol 2e-5.
const FWD = { atol: 2e-5, rtol: 1e-4 };

const convCases: [string, number[], number[], [number, number], [number, number]][] = [
  ["3×3 pad 1, 3 → 5 channels", [2, 3, 7, 9], [5, 3, 3, 3], [1, 1], [1, 1]],
  ["3×3 stride 2 pad 1", [2, 4, 9, 8], [8, 4, 3, 3], [2, 2], [1, 1]],
  ["1×1", [2, 8, 5, 5], [12, 8, 1, 1], [1, 1], [0, 0]],
  ["7×7 stride 2 pad 3 (a ResNet stem)", [1, 3, 15, 13], [8, 3, 7, 7], [2, 2], [3, 3]],
  ["1×1 stride 2", [2, 4, 7, 7], [4, 4, 1, 1], [2, 2], [0, 0]],
  ["1×1 pad 1 (padding past the kernel)", [1, 4, 5, 6], [4, 4, 1, 1], [1, 1], [1, 1]],
  ["3×5 stride [2, 1] pad [0, 2]", [1, 4, 8, 9], [4, 4, 3, 5], [2, 1], [0, 2]],
  ["3×3 no padding, 3 → 3 channels", [2, 3, 6, 5], [3, 3, 3, 3], [1, 1], [0, 0]],
];
for (const [what, xs, ws, stride, padding] of convCases) {
  test({
    name: `conv2d ${what}: x [${xs}] w [${ws}]`,
    inputs: [{ shape: xs }, { shape: ws, gen: (r: Rng) => r.normal() * 0.5 }],
    gpu: (x, w) => ops.conv2d(x, w, { stride, padding }),
    ref: (x, w) => RC.conv2d(x, w, stride, padding),
    fwd: FWD,
  });
}

test({
  name: "conv2dNhwc 3×3 pad 1, 16 → 32 channels: x [2, 6, 6, 16] w [32, 16, 3, 3]",
  inputs: [{ shape: [2, 6, 6, 16] }, { shape: [32, 16, 3, 3], gen: (r) => r.normal() * 0.2 }],
  gpu: (x, w) => ops.conv2dNhwc(x, w, { padding: 1 }),
  ref: (x, w) => permute(RC.conv2d(permute(x, [0, 3, 1, 2]), w, [1, 1], [1, 1]), [0, 2, 3, 1]),
  fwd: FWD,
});

Deno.test("conv2d: weight and strided input gradients built in chunks of images", async () => {
  const saved = convLimits.colsBudget;
  convLimits.colsBudget = 200; // one or two images per chunk
  try {
    await checkOp({
      name: "conv2d 3×3 stride 2 pad 1, chunked: x [3, 4, 7, 6] w [4, 4, 3, 3]",
      inputs: [{ shape: [3, 4, 7, 6] }, { shape: [4, 4, 3, 3], gen: (r) => r.normal() * 0.5 }],
      gpu: (x, w) => ops.conv2d(x, w, { stride: 2, padding: 1 }),
      ref: (x, w) => RC.conv2d(x, w, [2, 2], [1, 1]),
      fwd: FWD,
    });
  } finally {
    convLimits.colsBudget = saved;
  }
});

// ---- convolution + frozen batch norm (+ residual) (+ ReLU) ----------------------------------
// Frozen weight and statistics: one fused kernel, gradients to x and the residual. A trainable
// weight: the composition of the separate ops, gradients to everything.
const nhwc = (t: Arr) => permute(t, [0, 2, 3, 1]);
const nchw = (t: Arr) => permute(t, [0, 3, 1, 2]);
const convBnRef = (
  x: Arr,
  w: Arr,
  bw: Arr,
  bb: Arr,
  bm: Arr,
  bv: Arr,
  res: Arr | null,
  o: { stride: [number, number]; padding: [number, number]; relu: boolean },
) => {
  const y = nhwc(RC.batchNorm(RC.conv2d(nchw(x), w, o.stride, o.padding), bw, bb, bm, bv, 1e-5, 1));
  if (res) y.data.forEach((v, i) => (y.data[i] = v + res.data[i]));
  if (o.relu) y.data.forEach((v, i) => (y.data[i] = Math.max(v, 0)));
  return y;
};
const bnInputs = (C: number, grad: boolean) => [
  { shape: [C], gen: (r: Rng) => r.uniform(0.5, 1.5), grad },
  { shape: [C], grad },
  { shape: [C], grad: false }, // running statistics are buffers: no gradient
  { shape: [C], gen: positive, grad: false },
];
for (const trainable of [false, true]) {
  const o = { stride: [1, 1] as [number, number], padding: [1, 1] as [number, number], relu: true };
  test({
    name: `conv2dBnNhwc 3×3 + residual + ReLU, ${
      trainable ? "trainable (composed)" : "frozen (fused)"
    }`,
    inputs: [
      { shape: [2, 5, 6, 8] },
      { shape: [8, 8, 3, 3], gen: (r) => r.normal() * 0.3, grad: trainable },
      ...bnInputs(8, trainable),
      { shape: [2, 5, 6, 8] },
    ],
    gpu: (x, w, bw, bb, bm, bv, res) =>
      ops.conv2dBnNhwc(x, w, { weight: bw, bias: bb, runningMean: bm, runningVar: bv }, {
        padding: 1,
        residual: res,
        relu: true,
      }),
    ref: (x, w, bw, bb, bm, bv, res) => convBnRef(x, w, bw, bb, bm, bv, res, o),
    fwd: FWD,
  });
}
test({
  name: "conv2dBnNhwc 3×3 stride 2, frozen, no ReLU: x [2, 7, 7, 4] w [12, 4, 3, 3]",
  inputs: [
    { shape: [2, 7, 7, 4] },
    { shape: [12, 4, 3, 3], gen: (r) => r.normal() * 0.3, grad: false },
    ...bnInputs(12, false),
  ],
  gpu: (x, w, bw, bb, bm, bv) =>
    ops.conv2dBnNhwc(x, w, { weight: bw, bias: bb, runningMean: bm, runningVar: bv }, {
      stride: 2,
      padding: 1,
    }),
  ref: (x, w, bw, bb, bm, bv) =>
    convBnRef(x, w, bw, bb, bm, bv, null, { stride: [2, 2], padding: [1, 1], relu: false }),
  fwd: FWD,
});
Deno.test("conv2dBnNhwc with a weight cache: the same values, the matrices made once", async () => {
  const r = rng(5);
  const x = Tensor.from(randn(r, 2 * 6 * 6 * 8), [2, 6, 6, 8]);
  const w = Tensor.from(randn(r, 16 * 8 * 3 * 3, 0.3), [16, 8, 3, 3]);
  const bn = {
    weight: Tensor.from(randu(r, 16, 0.5, 1.5), [16]),
    bias: Tensor.from(randn(r, 16), [16]),
    runningMean: Tensor.from(randn(r, 16), [16]),
    runningVar: Tensor.from(randu(r, 16, 0.3, 2), [16]),
  };
  const cache = new ConvWeightCache();
  const run = (weightCache?: ConvWeightCache) =>
    ops.noGrad(() => ops.conv2dBnNhwc(x, w, bn, { padding: 1, relu: true, weightCache }));
  const [plain, cached1, cached2] = await ops.readTensors([run(), run(cache), run(cache)]);
  assert.deepEqual(cached1, plain);
  assert.deepEqual(cached2, plain);
  // the forward matrix, the folded scale and shift
  assert.equal(cache.bytes, 4 * (3 * 3 * 8 * 16 + 16 + 16));
  w.requiresGrad = true; // a trainable weight is re-laid-out per call, its entries dropped
  const y = ops.conv2dBnNhwc(x, w, bn, { padding: 1, relu: true, weightCache: cache });
  assert.equal(cache.bytes, 0);
  cache.dispose();
  for (const t of [x, w, y, ...Object.values(bn)]) t.dispose();
});

// ---- average pooling -----------------------------------------------------------------------
const poolCases: [number[], [number, number], [number, number]][] = [
  [[2, 3, 7, 9], [2, 2], [2, 2]], // floor mode drops the last row and column
  [[1, 2, 9, 8], [3, 3], [2, 2]], // overlapping windows
  [[1, 3, 5, 6], [2, 3], [1, 1]],
];
for (const [xs, k, s] of poolCases) {
  test({
    name: `avgPool2d kernel [${k}] stride [${s}]: x [${xs}]`,
    inputs: [{ shape: xs }],
    gpu: (x) => ops.avgPool2d(x, k, s),
    ref: (x) => RC.avgPool2d(x, k, s),
  });
}
test({
  name: "avgPool2dNhwc kernel 2: x [2, 6, 5, 4]",
  inputs: [{ shape: [2, 6, 5, 4] }],
  gpu: (x) => ops.avgPool2dNhwc(x, 2),
  ref: (x) => permute(RC.avgPool2d(permute(x, [0, 3, 1, 2]), [2, 2], [2, 2]), [0, 2, 3, 1]),
});

// ---- batch norm ------------------------------------------------------------------------------
const frozen = (shape: number[], gen?: (r: Rng) => number) => ({ shape, gen, grad: false });
for (const relu of [false, true]) {
  test({
    name: `batchNormInference NCHW${relu ? " + ReLU" : ""}: x [2, 5, 4, 3]`,
    inputs: [
      { shape: [2, 5, 4, 3] },
      { shape: [5] },
      { shape: [5] },
      frozen([5]),
      frozen([5], positive),
    ],
    gpu: (x, w, b, m, v) => ops.batchNormInference(x, w, b, m, v, 1e-5, { relu }),
    ref: (x, w, b, m, v) => RC.batchNorm(x, w, b, m, v, 1e-5, 1, relu),
  });
}
test({
  name: "batchNormInference channels-last (axis -1), eps 1e-3: x [3, 4, 2, 6]",
  inputs: [
    { shape: [3, 4, 2, 6] },
    { shape: [6] },
    { shape: [6] },
    frozen([6]),
    frozen([6], positive),
  ],
  gpu: (x, w, b, m, v) => ops.batchNormInference(x, w, b, m, v, 1e-3, { axis: -1 }),
  ref: (x, w, b, m, v) => RC.batchNorm(x, w, b, m, v, 1e-3, 3),
});

// ---- errors ----------------------------------------------------------------------------------
Deno.test("conv2d, avgPool2d and batchNorm name the problem", () => {
  const x = Tensor.from(new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
  const w = Tensor.from(new Float32Array(4 * 2 * 3 * 3), [4, 2, 3, 3]);
  const expectThrow = (f: () => unknown, re: RegExp) => {
    try {
      f();
    } catch (e) {
      if (re.test((e as Error).message)) return;
      throw new Error(`unexpected message: ${(e as Error).message}`);
    }
    throw new Error("expected an error");
  };
  expectThrow(() => ops.conv2d(x, w), /expects 2 input channels, x has 3/);
  const w7 = Tensor.from(new Float32Array(4 * 3 * 7 * 7), [4, 3, 7, 7]);
  expectThrow(() => ops.conv2d(x, w7), /7×7 kernel with padding 0,0 does not fit an input of 5×5/);
  expectThrow(() => ops.conv2d(x, w7, { stride: 0 }), /stride 0 must be an integer >= 1/);
  expectThrow(() => ops.avgPool2d(x, 6), /a 6×6 window does not fit 5×5/);
  const p = Tensor.from([1, 1], [2]);
  expectThrow(() => ops.batchNormInference(x, p, p, p, p), /parameters need 3 elements/);
  for (const t of [x, w, w7, p]) t.dispose();
});
