// Frozen weights as f16 pairs: matmulHalf against matmul (bit for bit) and the float64
// reference, its input gradient by finite differences, the refusals of packHalf, and the CLIP
// model's use of it (same features and gradients with and without; dropped once trainable).

import { add, initGpu, noGrad, readTensors, Tensor, tidy } from "../mod.ts";
import {
  halfExact,
  matmul,
  matmulBias,
  matmulHalf,
  packHalf,
  packLinearHalf,
} from "../src/autograd/ops/matmul.ts";
import { record } from "../src/autograd/tensor.ts";
import { Clip } from "../src/clip/model.ts";
import { type ClipWeights, loadClipWeights } from "../src/clip/checkpoint.ts";
import { checkOp } from "./gradcheck.ts";
import { assertAllClose, oracleDir, rng } from "./helpers.ts";
import * as R from "./reference.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

/** Normal values rounded to f16 (as OpenAI's fp16 release holds them), flat. */
function halfValues(seed: number, n: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => Math.f16round(r.normal()));
}

function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j];
  }
  return out;
}

function expectThrow(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    if (pattern.test((e as Error).message)) return;
    throw new Error(`expected an error matching ${pattern}, got: ${(e as Error).message}`);
  }
  throw new Error(`expected an error matching ${pattern}, nothing was thrown`);
}

const SHAPES: [number, number, number][] = [[1, 4, 8], [7, 12, 24], [77, 64, 40], [513, 8, 16], [
  26,
  516,
  72,
]];

Deno.test("matmulHalf: f16-exact B gives matmul's product bit for bit, in both packings", async () => {
  for (const [M, K, N] of SHAPES) {
    const a = halfValues(M * 7 + K, M * K).map((v, i) => v + 1e-3 * Math.sin(i)); // f32 values
    const b = halfValues(N + 3 * K, K * N);
    const A = Tensor.from(a, [M, K]), B = Tensor.from(b, [K, N]);
    const packed = packHalf(b, K, N), packedT = packHalf(transposed(b, K, N), N, K, true);
    const outs = noGrad(() => [matmul(A, B), matmulHalf(A, packed), matmulHalf(A, packedT)]);
    const [full, half, halfT] = await readTensors(outs);
    for (const [what, got] of [["B", half], ["Bᵀ packed transposed", halfT]] as const) {
      const i = got.findIndex((v, j) => v !== full[j]);
      if (i >= 0) {
        throw new Error(
          `${M}x${K}x${N} (${what}): [${i}] ${got[i]} differs from matmul's ${full[i]}`,
        );
      }
    }
    const ref = R.matmul(R.arr(a, [M, K]), R.arr(b, [K, N])).data;
    assertAllClose(half, ref, { atol: 2e-5 * Math.sqrt(K), rtol: 1e-4, name: `${M}x${K}x${N}` });
    [A, B, packed.bits, packedT.bits, ...outs].forEach((t) => t.dispose());
  }
});

Deno.test("a bias added as the product is stored equals a separate add, bit for bit", async () => {
  // [7, 12] · [12, 24] runs the tiled kernels; [5, 12] · [12, 6] (N % 4 ≠ 0) the strided one.
  for (const [M, K, N] of [[7, 12, 24], [2 * 13, 16, 8], [5, 12, 6]]) {
    const a = halfValues(M + K, M * K).map((v, i) => v + 1e-3 * Math.cos(i));
    const b = halfValues(2 * N + K, K * N), c = halfValues(N, N).map((v) => v + 1e-4);
    const A = Tensor.from(a, [M, K]), B = Tensor.from(b, [K, N]), bias = Tensor.from(c, [N]);
    const packed = N % 8 === 0 ? packHalf(b, K, N) : null;
    const outs = noGrad(() => [
      add(matmul(A, B), bias),
      matmulBias(A, B, bias),
      ...(packed ? [add(matmulHalf(A, packed), bias), matmulHalf(A, packed, bias)] : []),
    ]);
    const got = await readTensors(outs);
    // Outputs 0 and 1: f32 B; 2 and 3: the packed B. Each fused one against its separate add.
    for (let k = 1; k < got.length; k += 2) {
      const want = got[k - 1], i = got[k].findIndex((v, j) => v !== want[j]);
      if (i >= 0) throw new Error(`${M}x${K}x${N} output ${k}: [${i}] ${got[k][i]} ≠ ${want[i]}`);
    }
    [A, B, bias, ...outs, ...(packed ? [packed.bits] : [])].forEach((t) => t.dispose());
  }
  const A = Tensor.from(new Float32Array(8), [2, 4]), B = Tensor.from(new Float32Array(32), [4, 8]);
  expectThrow(() => matmulBias(A, B, Tensor.from([1, 2, 3], [3])), /a bias of \[3\]/);
  expectThrow(
    () => matmulHalf(A, packHalf(new Float32Array(32), 4, 8), Tensor.from([1, 2], [1, 2])),
    /a bias of \[1, 2\]/,
  );
});

Deno.test("matmulHalf: batched rows [3, 5, 8] · B [8, 16] against the reference", async () => {
  const a = halfValues(1, 3 * 5 * 8), b = halfValues(2, 8 * 16);
  const A = Tensor.from(a, [3, 5, 8]), packed = packHalf(b, 8, 16);
  const out = noGrad(() => matmulHalf(A, packed));
  if (out.shape.join() !== "3,5,16") throw new Error(`shape ${out.shape}`);
  const ref = R.matmul(R.arr(a, [15, 8]), R.arr(b, [8, 16])).data;
  assertAllClose(await out.toArray(), ref, { atol: 1e-5, rtol: 1e-5, name: "batched" });
  [A, packed.bits, out].forEach((t) => t.dispose());
});

// The CLIP model records a frozen linear as matmulHalf(x, Wᵀ) with g·W for x's gradient.
const W_OUT = 16, W_IN = 24;
const W = halfValues(9, W_OUT * W_IN);
Deno.test("matmulHalf as a frozen linear: forward and input gradient (finite differences)", () => {
  const fwd = packHalf(W, W_OUT, W_IN, true), bwd = packHalf(W, W_OUT, W_IN);
  return checkOp({
    name: "frozen half linear [7, 24] · Wᵀ",
    inputs: [{ shape: [7, W_IN] }],
    gpu: (x) => record(matmulHalf(x, fwd), "half linear", [x], (g) => [matmulHalf(g, bwd)]),
    ref: (x) => R.matmul(x, R.arr(W, [W_OUT, W_IN]), false, true),
  }).finally(() => [fwd.bits, bwd.bits].forEach((t) => t.dispose()));
});

Deno.test("halfExact and packHalf refuse what f16 does not hold and shapes the kernel cannot take", () => {
  const ok = [0, -0, 1, -2.5, 65504, 6.103515625e-5, 5.960464477539063e-8, Math.f16round(0.1)];
  if (!halfExact(Float32Array.from(ok))) throw new Error("f16 values were called inexact");
  for (const bad of [0.1, 1e5, 1e-9, NaN, 1 + 2 ** -12]) {
    if (halfExact(Float32Array.of(1, bad))) throw new Error(`${bad} was called f16-exact`);
  }
  expectThrow(() => packHalf(Float32Array.of(0.1, ...new Array(31).fill(0)), 4, 8), /exactly/);
  expectThrow(() => packHalf(new Float32Array(4 * 12), 4, 12), /N % 8 == 0/);
  expectThrow(() => packHalf(new Float32Array(6 * 8), 6, 8), /K % 4 == 0/);
  expectThrow(() => packHalf(new Float32Array(10), 4, 8), /do not make a \[4, 8\] matrix/);
  const p = packHalf(new Float32Array(4 * 8), 4, 8);
  expectThrow(() => matmulHalf(Tensor.from(new Float32Array(6), [2, 3]), p), /inner sizes differ/);
  p.bits.dispose();
});

Deno.test("packLinearHalf: W's two layouts as packHalf makes them; null when a value is inexact", async () => {
  const w = halfValues(21, 16 * 24);
  const both = packLinearHalf(w, 16, 24)!;
  const fwd = packHalf(w, 16, 24, true), bwd = packHalf(w, 16, 24);
  const got = await Promise.all([both.fwd, both.bwd, fwd, bwd].map((h) => h.bits.toInt32Array()));
  if (both.fwd.K !== 24 || both.fwd.N !== 16 || both.bwd.K !== 16 || both.bwd.N !== 24) {
    throw new Error("packLinearHalf: wrong shapes");
  }
  for (const [a, b, what] of [[got[0], got[2], "Wᵀ"], [got[1], got[3], "W"]] as const) {
    if (a.some((v, i) => v !== b[i])) {
      throw new Error(`packLinearHalf: ${what} differs from packHalf's`);
    }
  }
  const inexact = w.slice();
  inexact[100] = 0.1;
  if (packLinearHalf(inexact, 16, 24) !== null) throw new Error("an inexact weight was packed");
  [both.fwd, both.bwd, fwd, bwd].forEach((h) => h.bits.dispose());
});

// ---- the CLIP model ----------------------------------------------------------------------------
const oracle = oracleDir();

/** tiny-a's weights with every value rounded to f16 (what OpenAI's fp16 release looks like). */
async function halfTinyA(): Promise<ClipWeights> {
  const w = await loadClipWeights(`${oracle}reference/tiny-a/hf`);
  for (const t of w.tensors.values()) t.data.forEach((v, i) => t.data[i] = Math.f16round(v));
  return w;
}

Deno.test({
  name:
    "CLIP with f16-exact weights: the f16-pair path gives the f32 path's features and gradients",
  fn: async () => {
    const w = await halfTinyA();
    const half = Clip.fromWeights(w), full = Clip.fromWeights(w, { halfWeights: false });
    const c = half.config;
    const linears = 4 * (c.visionLayers + c.transformerLayers);
    if (half.halfWeights !== linears || full.halfWeights !== 0) {
      throw new Error(
        `f16-pair weights: ${half.halfWeights} and ${full.halfWeights}, expected ${linears} and 0`,
      );
    }
    const r = rng(3);
    const R0 = c.imageResolution;
    const px = Float32Array.from({ length: 2 * 3 * R0 * R0 }, () => r.normal());
    const ids = Int32Array.from([c.vocabSize - 2, 5, 6, 7, c.vocabSize - 1, 0]);
    const tokens = { ids, shape: [1, 6] };
    const run = (clip: Clip) => {
      const pixels = Tensor.from(px, [2, 3, R0, R0], { requiresGrad: true });
      const emb = Tensor.from(halfValues(4, 6 * c.transformerWidth), [1, 6, c.transformerWidth], {
        requiresGrad: true,
      });
      const outs = tidy(() => {
        const img = clip.encodeImage(pixels), txt = clip.encodeTextFromEmbeddings(emb, tokens);
        clip.loss(img, txt, [0, 0]).backward();
        return [img, txt];
      });
      return readTensors([...outs, pixels.grad!, emb.grad!]);
    };
    const [a, b] = [await run(half), await run(full)];
    ["image features", "text features", "pixel gradient", "embedding gradient"].forEach((what, i) =>
      assertAllClose(a[i], b[i], { atol: 1e-6, rtol: 1e-5, name: what })
    );
    // Made trainable, a weight leaves the f16-pair path for good.
    half.setTrainable(["visual.transformer.resblocks.0.mlp.c_fc.weight"]);
    half.setTrainable(["visual.transformer.resblocks.0.mlp.c_fc.weight"], false);
    if (half.halfWeights !== linears - 1) {
      throw new Error(`${half.halfWeights} f16-pair weights left`);
    }
    const [img] = await readTensors([
      noGrad(() => half.encodeImage(Tensor.from(px, [2, 3, R0, R0]))),
    ]);
    assertAllClose(img, b[0], {
      atol: 1e-6,
      rtol: 1e-5,
      name: "image features, one weight back on f32",
    });
    half.dispose();
    full.dispose();
  },
});

Deno.test({
  name: "CLIP with tiny-a's f32 weights keeps no f16-pair copies (they would not be exact)",
  fn: async () => {
    const clip = Clip.fromWeights(await loadClipWeights(`${oracle}reference/tiny-a/hf`));
    if (clip.halfWeights !== 0) throw new Error(`${clip.halfWeights} inexact weights were packed`);
    clip.dispose();
  },
});
