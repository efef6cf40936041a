// Every op: forward against the float64 reference on random inputs (sizes 1, 7, 77, 513 and
// shapes that fit no tile), backward against finite differences of that reference.
// Tolerances: forward atol 1e-5 + rtol 1e-4 unless stated; gradients atol 2e-4 + rtol 2e-3
// (f32 on the GPU against f64 differences), looser where a case says why.

import assert from "node:assert/strict";
import * as ops from "../mod.ts";
import { initGpu, Tensor } from "../mod.ts";
import { record } from "../src/autograd/tensor.ts";
import { coalesceAxes, fillInto, transposeBlocks, vec4Axes } from "../src/autograd/ops/prims.ts";
import { rt } from "../src/gpu/runtime.ts";
import { checkOp, type OpCase } from "./gradcheck.ts";
import * as R from "./reference.ts";
import type { Rng } from "./helpers.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

const SIZES = [1, 7, 77, 513];
const positive = (r: Rng) => r.uniform(0.2, 3);
const awayFromZero = (r: Rng) => (r.uniform(0.1, 2)) * (r.uniform() < 0.5 ? -1 : 1);

function test(c: OpCase) {
  Deno.test(c.name, () => checkOp(c));
}

// ---- unary table -------------------------------------------------------------------------
const unaryCases: [string, (t: Tensor) => Tensor, (r: Rng) => number, number?, number?][] = [
  ["neg", ops.neg, (r) => r.normal()],
  ["exp", ops.exp, (r) => r.normal()],
  ["log", ops.log, positive],
  ["sqrt", ops.sqrt, positive],
  ["tanh", ops.tanh, (r) => 2 * r.normal()],
  ["sigmoid", ops.sigmoid, (r) => 3 * r.normal()],
  ["relu", ops.relu, awayFromZero],
  ["quickGelu", ops.quickGelu, (r) => 2 * r.normal()],
  ["gelu", ops.gelu, (r) => 2 * r.normal()],
];
for (const [name, f, gen] of unaryCases) {
  for (const n of SIZES) {
    test({
      name: `${name} [${n}]`,
      inputs: [{ shape: [n], gen }],
      gpu: f,
      ref: (x) => R.map(x, (v) => R.UNARY_REF[name](v, 0, 0)),
      // gelu's erf is Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7 in erf)
      fwd: name === "gelu" ? { atol: 3e-6, rtol: 1e-4 } : undefined,
    });
  }
}
test({
  name: "pow 2.5 [77]",
  inputs: [{ shape: [77], gen: positive }],
  gpu: (x) => ops.pow(x, 2.5),
  ref: (x) => R.map(x, (v) => v ** 2.5),
});
test({
  name: "pow 3 of negative bases [7, 11]",
  inputs: [{ shape: [7, 11] }],
  gpu: (x) => ops.pow(x, 3),
  ref: (x) => R.map(x, (v) => v ** 3),
});
test({
  name: "pow -1 [513]",
  inputs: [{ shape: [513], gen: positive }],
  gpu: (x) => ops.pow(x, -1),
  ref: (x) => R.map(x, (v) => 1 / v),
});
test({
  name: "clamp [-0.5, 0.7] [513]",
  inputs: [{ shape: [513], gen: (r) => r.uniform(-1.5, 1.5) }],
  gpu: (x) => ops.clamp(x, -0.5, 0.7),
  ref: (x) => R.map(x, (v) => Math.min(Math.max(v, -0.5), 0.7)),
});

// ---- binary with broadcasting -------------------------------------------------------------
const binaries: [string, (a: Tensor, b: Tensor) => Tensor, (a: number, b: number) => number][] = [
  ["add", ops.add, (a, b) => a + b],
  ["sub", ops.sub, (a, b) => a - b],
  ["mul", ops.mul, (a, b) => a * b],
  ["div", ops.div, (a, b) => a / b],
];
const shapePairs: [number[], number[]][] = [
  [[513], [513]],
  [[7, 77], [77]],
  [[7, 1], [1, 77]],
  [[2, 3, 7], [3, 1]],
  [[1], [7, 13]],
  [[], [5]],
  // Innermost axes a multiple of 4: the vec4 kernels (a bias over rows; same shapes; axes merged).
  [[6, 8], [8]],
  [[5, 12], [5, 12]],
  [[2, 3, 8], [3, 8]],
  // A column broadcast along the innermost axis stays on the scalar kernel.
  [[3, 8], [3, 1]],
];
for (const [name, f, g] of binaries) {
  for (const [sa, sb] of shapePairs) {
    test({
      name: `${name} [${sa}] with [${sb}]`,
      inputs: [{ shape: sa }, { shape: sb, gen: name === "div" ? positive : undefined }],
      gpu: f,
      ref: (a, b) => R.zip([a, b], g),
    });
  }
}
test({
  name: "scalar operands: 2·x + 1 - x/4, 3 - x, 1/x",
  inputs: [{ shape: [77], gen: positive }],
  gpu: (x) =>
    ops.add(
      ops.sub(ops.add(ops.mul(2, x), 1), ops.div(x, 4)),
      ops.add(ops.sub(3, x), ops.div(1, x)),
    ),
  ref: (x) => R.map(x, (v) => 2 * v + 1 - v / 4 + (3 - v) + 1 / v),
});
test({
  name: "where mask [7, 77] (mask broadcast over rows)",
  inputs: [{ shape: [7, 77] }, { shape: [7, 77] }],
  gpu: (a, b) => {
    const mask = Tensor.from(Array.from({ length: 77 }, (_, i) => (i % 3 === 0 ? 1 : 0)), [77]);
    return ops.where(mask, a, b);
  },
  ref: (a, b) => whereRef(a, b),
});
function whereRef(a: R.Arr, b: R.Arr): R.Arr {
  return { data: a.data.map((v, i) => (i % 77) % 3 === 0 ? v : b.data[i]), shape: a.shape };
}

// ---- reductions -----------------------------------------------------------------------------
for (const [shape, axis] of [[[513], 0], [[7, 77], 1], [[7, 77], 0], [[3, 7, 5], 1]] as const) {
  for (const kind of ["sum", "mean", "max"] as const) {
    test({
      name: `${kind} axis ${axis} of [${shape}]`,
      inputs: [{ shape: [...shape] }],
      gpu: (x) => ops[kind](x, axis),
      ref: (x) => R.reduceAxis(x, axis, kind),
    });
  }
}
test({
  name: "sum, mean, max of all, and keepdim",
  inputs: [{ shape: [7, 13] }],
  gpu: (x) =>
    ops.add(ops.add(ops.sum(x), ops.mean(x)), ops.add(ops.max(x), ops.sum(ops.sum(x, 1, true)))),
  ref: (x) => {
    const s = x.data.reduce((p, v) => p + v, 0);
    return R.arr([s + s / x.data.length + Math.max(...x.data) + s], []);
  },
});

// ---- matmul ----------------------------------------------------------------------------------
const mmShapes: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [77, 64, 77],
  [1, 8, 513],
  [77, 512 + 4, 36],
  [33, 64, 128],
  [513, 8, 4],
];
for (const [M, K, N] of mmShapes) {
  for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
    if ((tA || tB) && M * K * N > 200000) continue;
    const big = M * K * N > 100000;
    test({
      name: `matmul ${M}x${K}x${N}${tA ? " transA" : ""}${tB ? " transB" : ""}`,
      inputs: [{ shape: tA ? [K, M] : [M, K] }, { shape: tB ? [N, K] : [K, N] }],
      gpu: (a, b) => ops.matmul(a, b, { transA: tA, transB: tB }),
      ref: (a, b) => R.matmul(a, b, tA, tB),
      // sums of K products of normals: the error grows like sqrt(K)
      fwd: { atol: 2e-5 * Math.sqrt(K), rtol: 1e-4 },
      grad: { atol: 2e-4 * Math.sqrt(Math.max(M, N)), rtol: 2e-3 },
      samples: big ? 16 : 40,
    });
  }
}
test({
  name: "matmul batched [3, 7, 12] x [3, 12, 9] and [3, 7, 12] x [12, 8]",
  inputs: [{ shape: [3, 7, 12] }, { shape: [3, 12, 9] }, { shape: [12, 8] }],
  gpu: (a, b, c) => ops.concat([ops.matmul(a, b), ops.matmul(a, c)], 2),
  ref: (a, b, c) => R.concat([R.matmul(a, b), R.matmul(a, c)], 2),
});
test({
  name: "matmul batched attention shapes [2, 3, 77, 16] · [2, 3, 77, 16]ᵀ",
  inputs: [{ shape: [2, 3, 77, 16] }, { shape: [2, 3, 77, 16] }],
  gpu: (q, k) => ops.matmul(q, k, { transB: true }),
  ref: (q, k) => R.matmul(q, k, false, true),
  samples: 16,
});
test({
  name: "matmul 2-D · batched [5, 8] x [3, 8, 4]",
  inputs: [{ shape: [5, 8] }, { shape: [3, 8, 4] }],
  gpu: (a, b) => ops.matmul(a, b),
  ref: (a, b) => {
    const outs = [0, 1, 2].map((t) => R.matmul(a, R.slice(b, 0, t, t + 1)));
    return R.concat(outs.map((o) => ({ data: o.data, shape: [1, 5, 4] })), 0);
  },
});
test({
  name: "linear [7, 12] with W [5, 12] and bias [5]",
  inputs: [{ shape: [7, 12] }, { shape: [5, 12] }, { shape: [5] }],
  gpu: (x, w, b) => ops.linear(x, w, b),
  ref: (x, w, b) => R.zip([R.matmul(x, w, false, true), b], (p, q) => p + q),
});

// ---- row ops ---------------------------------------------------------------------------------
for (const n of SIZES) {
  for (const log of [false, true]) {
    test({
      name: `${log ? "logSoftmax" : "softmax"} [3, ${n}]`,
      inputs: [{ shape: [3, n], gen: (r) => 3 * r.normal() }],
      gpu: (x) => (log ? ops.logSoftmax(x) : ops.softmax(x)),
      ref: (x) => R.softmax(x, log),
    });
  }
}
test({
  name: "softmax causal [2, 7, 7]",
  inputs: [{ shape: [2, 7, 7] }],
  gpu: (x) => ops.softmax(x, { causal: true }),
  ref: (x) => R.softmax(x, false, true),
});
test({
  name: "logSoftmax causal [2, 5, 5] (masked entries are -inf, and get no gradient)",
  inputs: [{ shape: [2, 5, 5] }],
  // -inf · w would poison the loss: compare exp of it instead
  gpu: (x) => ops.exp(ops.logSoftmax(x, { causal: true })),
  ref: (x) => R.map(R.softmax(x, true, true), Math.exp),
});
for (const n of [1, 7, 77, 513]) {
  test({
    name: `layerNorm [5, ${n}]`,
    inputs: [
      { shape: [5, n], gen: (r) => 2 * r.normal() + 0.5 },
      { shape: [n], gen: (r) => 1 + 0.3 * r.normal() },
      { shape: [n] },
    ],
    gpu: (x, w, b) => ops.layerNorm(x, w, b),
    ref: (x, w, b) => R.layerNorm(x, w, b),
    // n = 1: the output is exactly the bias, and d/dx is 0
    grad: { atol: 5e-4, rtol: 3e-3 },
  });
  test({
    name: `l2Normalize [4, ${n}]`,
    inputs: [{ shape: [4, n] }],
    gpu: (x) => ops.l2Normalize(x),
    ref: (x) => R.l2Normalize(x),
  });
}
for (const [N, C] of [[1, 1], [7, 10], [77, 513]]) {
  const labels = Array.from({ length: N }, (_, i) => (i * 7 + 3) % C);
  for (const reduction of ["mean", "none"] as const) {
    test({
      name: `crossEntropy ${reduction} [${N}, ${C}]`,
      inputs: [{ shape: [N, C], gen: (r) => 2 * r.normal() }],
      gpu: (x) => ops.crossEntropy(x, labels, reduction),
      ref: (x) => R.crossEntropy(x, labels, reduction),
    });
  }
}

// ---- movement and indexing ---------------------------------------------------------------------
test({
  name: "reshape and permute [2, 3, 4, 5] → [3, 5, 2, 4]",
  inputs: [{ shape: [2, 3, 4, 5] }],
  gpu: (x) => ops.permute(ops.reshape(x, [2, 3, 4, -1]), [1, 3, 0, 2]),
  ref: (x) => R.permute(x, [1, 3, 0, 2]),
});
test({
  name: "transpose [7, 77]",
  inputs: [{ shape: [7, 77] }],
  gpu: (x) => ops.transpose(x),
  ref: (x) => R.permute(x, [1, 0]),
});
test({
  name: "slice axis 1 [3:10) of [4, 13, 2]",
  inputs: [{ shape: [4, 13, 2] }],
  gpu: (x) => ops.slice(x, 1, 3, 10),
  ref: (x) => R.slice(x, 1, 3, 10),
});
test({
  name: "concat axis 1 of [2, 3], [2, 1], [2, 5]",
  inputs: [{ shape: [2, 3] }, { shape: [2, 1] }, { shape: [2, 5] }],
  gpu: (a, b, c) => ops.concat([a, b, c], 1),
  ref: (a, b, c) => R.concat([a, b, c], 1),
});
// Copies whose innermost axis is contiguous on both sides run four words at a time.
test({
  name: "permute heads [2, 5, 3, 4, 8] → [3, 2, 4, 5, 8] (vec4 copy)",
  inputs: [{ shape: [2, 5, 3, 4, 8] }],
  gpu: (x) => ops.permute(x, [2, 0, 3, 1, 4]),
  ref: (x) => R.permute(x, [2, 0, 3, 1, 4]),
});
test({
  name: "slice axis 1 [4:12) of [3, 16, 4] (vec4 copy at an offset)",
  inputs: [{ shape: [3, 16, 4] }],
  gpu: (x) => ops.slice(x, 1, 4, 12),
  ref: (x) => R.slice(x, 1, 4, 12),
});
test({
  name: "slicePermute: v of a packed [2, 5, 3, 4, 8] projection as [1, 2, 4, 5, 8] in one copy",
  inputs: [{ shape: [2, 5, 3, 4, 8] }],
  gpu: (x) => ops.slicePermute(x, 2, 2, 3, [2, 0, 3, 1, 4]),
  ref: (x) => R.permute(R.slice(x, 2, 2, 3), [2, 0, 3, 1, 4]),
});
test({
  name: "slicePermute with an odd inner axis: [3, 7, 5] axis 1 [2:6), axes reversed",
  inputs: [{ shape: [3, 7, 5] }],
  gpu: (x) => ops.slicePermute(x, 1, 2, 6, [2, 1, 0]),
  ref: (x) => R.permute(R.slice(x, 1, 2, 6), [2, 1, 0]),
});
test({
  name: "transpose [3, 8, 12] (4 × 4 blocks)",
  inputs: [{ shape: [3, 8, 12] }],
  gpu: (x) => ops.transpose(x),
  ref: (x) => R.permute(x, [0, 2, 1]),
});
test({
  name: "transpose the middle axes of [2, 4, 8, 3] (not the last two: strided)",
  inputs: [{ shape: [2, 4, 8, 3] }],
  gpu: (x) => ops.transpose(x, 1, 2),
  ref: (x) => R.permute(x, [0, 2, 1, 3]),
});
test({
  name: "slice axis 2 [1:9) of [3, 2, 12] (an offset off the vec4 grid)",
  inputs: [{ shape: [3, 2, 12] }],
  gpu: (x) => ops.slice(x, 2, 1, 9),
  ref: (x) => R.slice(x, 2, 1, 9),
});
test({
  name: "concat axis 1 of [2, 4], [2, 8], [2, 2] (vec4 and scalar parts)",
  inputs: [{ shape: [2, 4] }, { shape: [2, 8] }, { shape: [2, 2] }],
  gpu: (a, b, c) => ops.concat([a, b, c], 1),
  ref: (a, b, c) => R.concat([a, b, c], 1),
});
Deno.test("coalesceAxes, vec4Axes, transposeBlocks: merged where every operand allows, vec4 where aligned", () => {
  // A bias [8] over [2, 3, 8]: the two outer axes merge, and the inner one reads whole vec4s.
  const bias = coalesceAxes([2, 3, 8], [[24, 8, 1], [0, 0, 1]]);
  assert.deepEqual(bias, { shape: [6, 8], strides: [[8, 1], [0, 1]] });
  assert.deepEqual(vec4Axes(bias.shape, bias.strides), {
    shape: [6, 2],
    strides: [[2, 1], [0, 1]],
    offsets: [],
  });
  // A permute's axes do not merge; size-1 axes go; nothing left is one element.
  assert.deepEqual(coalesceAxes([3, 1, 4], [[1, 0, 3], [4, 4, 1]]), {
    shape: [3, 4],
    strides: [[1, 3], [4, 1]],
  });
  assert.deepEqual(coalesceAxes([1, 1], [[0, 0]]), { shape: [1], strides: [[0]] });
  // Not vec4: an innermost axis of 6, a transposed read, an offset or stride off the grid.
  assert.equal(vec4Axes([2, 6], [[6, 1]]), null);
  assert.equal(vec4Axes([3, 4], [[1, 3], [4, 1]]), null);
  assert.equal(vec4Axes([2, 8], [[8, 1], [8, 1]], [0, 2]), null);
  assert.equal(vec4Axes([2, 8], [[10, 1], [8, 1]]), null);
  // A transpose of [8, 12] (read down columns) in 4 × 4 blocks; one of [8, 6] is not.
  assert.deepEqual(transposeBlocks([12, 8], [[1, 12], [8, 1]], [0, 0]), {
    shape: [3, 2],
    strides: [[1, 12], [8, 1]],
    offsets: [0, 0],
  });
  assert.equal(transposeBlocks([6, 8], [[1, 6], [8, 1]], [0, 0]), null);
});
Deno.test("the vec4 kernels are the ones dispatched for aligned adds, copies and fills", async () => {
  const a = Tensor.from(new Float32Array(48).map((_, i) => i), [6, 8]);
  const b = Tensor.from(new Float32Array(8).fill(1), [8]);
  const trace: string[] = rt().trace = [];
  try {
    ops.add(a, b).dispose();
    ops.transpose(a).dispose();
    ops.permute(ops.reshape(a, [6, 2, 4]), [1, 0, 2]).dispose();
    ops.transpose(ops.reshape(a, [12, 4])).dispose();
  } finally {
    rt().trace = null;
  }
  assert.deepEqual(trace, ["add.bcast4", "strided_copy", "strided_copy4", "transpose_copy4"]);
  // Fills: four words at a time where the size allows, each word where it does not.
  trace.length = 0;
  rt().trace = trace;
  try {
    const [z8, z7, i8] = [ops.zeros([2, 4]), ops.full([7], 2.5), Tensor.empty([8], "i32")];
    fillInto(i8, -3);
    assert.deepEqual([...await z8.toArray(), ...await z7.toArray()], [
      ...Array(8).fill(0),
      ...Array(7).fill(2.5),
    ]);
    assert.deepEqual([...await i8.toInt32Array()], Array(8).fill(-3));
    [z8, z7, i8].forEach((t) => t.dispose());
  } finally {
    rt().trace = null;
  }
  assert.deepEqual(trace, ["fill4", "fill", "fill4"]);
  a.dispose();
  b.dispose();
});

test({
  name: "broadcastTo [1, 77] → [7, 77]",
  inputs: [{ shape: [1, 77] }],
  gpu: (x) => ops.broadcastTo(x, [7, 77]),
  ref: (x) => R.zip([x, R.arr(new Float64Array(7 * 77), [7, 77])], (a) => a),
});
test({
  name: "gatherRows: 77 ids (with repeats) from a [13, 7] table",
  inputs: [{ shape: [13, 7] }],
  gpu: (t) => ops.gatherRows(t, Array.from({ length: 77 }, (_, i) => (i * 5) % 13)),
  ref: (t) => R.gatherRows(t, Array.from({ length: 77 }, (_, i) => (i * 5) % 13)),
});
test({
  name: "patchConv [2, 3, 8, 12] with [5, 3, 4, 4]",
  inputs: [{ shape: [2, 3, 8, 12] }, { shape: [5, 3, 4, 4] }],
  gpu: (x, w) => ops.patchConv(x, w),
  ref: (x, w) => R.patchConv(x, w),
});

// ---- the harness can fail --------------------------------------------------------------------
Deno.test("harness rejects a wrong forward reference", async () => {
  await rejects(
    checkOp({
      name: "exp vs 1.001·exp",
      inputs: [{ shape: [7] }],
      gpu: ops.exp,
      ref: (x) => R.map(x, (v) => 1.001 * Math.exp(v)),
    }),
    /exp vs 1.001·exp forward: not close/,
  );
});
Deno.test("harness rejects a wrong gradient", async () => {
  // exp with the backward of the identity: forward right, gradient wrong.
  const badExp = (x: Tensor) => {
    const y = ops.noGrad(() => ops.exp(x));
    return record(y, "badExp", [x], (g) => [ops.copy(g)]);
  };
  await rejects(
    checkOp({
      name: "badExp",
      inputs: [{ shape: [7] }],
      gpu: badExp,
      ref: (x) => R.map(x, Math.exp),
    }),
    /badExp: gradient of input 0/,
  );
});

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (re.test((e as Error).message)) return;
    throw new Error(`rejected with an unexpected message: ${(e as Error).message}`);
  }
  throw new Error("expected the check to fail, and it passed");
}

// ---- clear errors on bad input -------------------------------------------------------------
Deno.test("shape errors name the op and the shapes", () => {
  const a = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
  const b = Tensor.from([1, 2, 3, 4], [2, 2]);
  const expectThrow = (f: () => unknown, re: RegExp) => {
    try {
      f();
    } catch (e) {
      if (re.test((e as Error).message)) return;
      throw new Error(`unexpected message: ${(e as Error).message}`);
    }
    throw new Error("expected an error");
  };
  expectThrow(() => ops.matmul(a, a), /matmul: inner sizes differ: \[2, 3\] · \[2, 3\]/);
  expectThrow(() => ops.slicePermute(a, 1, 0, 2, [0, 0]), /slicePermute: \[0,0\] is not a perm/);
  expectThrow(() => ops.slicePermute(a, 1, 2, 5, [1, 0]), /slicePermute: \[2, 5\) is out of range/);
  expectThrow(() => ops.add(a, b), /add: shapes \[2, 3\] and \[2, 2\] do not broadcast/);
  expectThrow(() => Tensor.from([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\]/);
  expectThrow(() => ops.crossEntropy(a, [0, 3]), /label 3 at row 1 is not a class index/);
  expectThrow(() => ops.gatherRows(a, [2]), /index 2 at position 0 is outside the table's 2 rows/);
  a.dispose();
  b.dispose();
  expectThrow(() => ops.exp(a), /was disposed/);
});
