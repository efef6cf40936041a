// Batched matmul with transposed operands. Aligned shapes (K, N multiples of 4) run on the
// register-tiled kernel (transposed operands are materialised first: a copy is O(n²) against
// the product's O(n³)); the rest run on the strided kernel, which reads transposes in place.

import {
  stridedGrid,
  stridedMatmul,
  tiledGrid,
  tiledMatmul,
  type TileShape,
} from "../../gpu/shaders/matmul.ts";
import { adopt, noGrad, record, type Shape, shapeStr, Tensor } from "../tensor.ts";
import { add } from "./elementwise.ts";
import { assertF32, kernel, launch } from "./launch.ts";
import { sumTo, transpose } from "./movement.ts";

/** Options of {@link matmul}. */
export interface MatmulOptions {
  /** Use the transpose of a's last two axes. */
  transA?: boolean;
  /** Use the transpose of b's last two axes. */
  transB?: boolean;
}

/**
 * The register tile for an output of M × N: the candidate with the least modelled time (see
 * bench/matmul.ts for measurements). On llvmpipe a storage load costs about as much as 32 vec4
 * FMAs, so one k-step of a TM × TN tile costs ~(TM + TN)·32 + TM·TN, paid by every tile that
 * overlaps the output (rows and columns past the edge are computed and discarded). 26 × 24 fits
 * CLIP's 77 (3 × 26) and 50 (2 × 26) rows; the small tiles serve thin outputs. Each tile is one
 * pipeline (26 × 24 compiles in ~3 s cold, 16 × 32 in ~2 s; Mesa caches them on disk).
 */
export function chooseTile(M: number, N: number): TileShape {
  const tiles = [[16, 32], [26, 24], [16, 16], [8, 32], [8, 16], [8, 8], [4, 32], [4, 16], [4, 8]];
  let best = tiles[0], bestCost = Infinity;
  for (const t of tiles) {
    const [TM, TN] = t;
    const cost = Math.ceil(M / TM) * Math.ceil(N / TN) * ((TM + TN) * 32 + TM * TN);
    if (cost < bestCost) [best, bestCost] = [t, cost];
  }
  return { TM: best[0], TN: best[1], WG: 16 };
}

/**
 * The strided kernel's register tile for an output of M × N, by the same kind of model as
 * chooseTile: its loads are scalar (TM + TN a k-step, each ~8 vec4 FMAs' worth here) against
 * TM · TN / 4 vec4 FMAs, paid by every tile that overlaps the output. Measured on attention's
 * shapes (bench/matmul.ts, 64 × 17 × 32 × 17 NT: 16 × 16 1.8 GFLOP/s, 17 × 20 4.8; at T = 50 and
 * 77 the large tiles were within 20 % of each other).
 */
export function chooseStridedTile(M: number, N: number): TileShape {
  const tiles = [[16, 16], [26, 24], [17, 20], [8, 16], [8, 8]];
  let best = tiles[0], bestCost = Infinity;
  for (const t of tiles) {
    const [TM, TN] = t;
    const cost = Math.ceil(M / TM) * Math.ceil(N / TN) * ((TM + TN) * 8 + (TM * TN) / 4);
    if (cost < bestCost) [best, bestCost] = [t, cost];
  }
  return { TM: best[0], TN: best[1], WG: 16 };
}

interface Plan {
  batch: number;
  batchShape: number[];
  M: number;
  K: number;
  N: number;
  aBatched: boolean;
  bBatched: boolean;
}

function plan(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Plan {
  if (a.rank < 2 || b.rank < 2) {
    throw new Error(`matmul: operands need rank >= 2 (got ${a} and ${b})`);
  }
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const [K2, N] = transB ? [bc, br] : [br, bc];
  if (K !== K2) {
    throw new Error(
      `matmul: inner sizes differ: ${shapeStr(a.shape)}${transA ? "ᵀ" : ""} · ` +
        `${shapeStr(b.shape)}${transB ? "ᵀ" : ""} (${K} vs ${K2})`,
    );
  }
  const ba = a.shape.slice(0, -2), bb = b.shape.slice(0, -2);
  const aBatched = ba.length > 0, bBatched = bb.length > 0;
  if (aBatched && bBatched && (ba.length !== bb.length || ba.some((d, i) => d !== bb[i]))) {
    throw new Error(
      `matmul: batch axes ${shapeStr(ba)} and ${shapeStr(bb)} differ ` +
        `(they must match, or one operand must be 2-D)`,
    );
  }
  const batchShape = aBatched ? ba : bb;
  return { batch: batchShape.reduce((p, d) => p * d, 1), batchShape, M, K, N, aBatched, bBatched };
}

/**
 * The product without recording; plus `bias` (N values, b 2-D) on every row, added as the tiled
 * kernel stores C where it runs, else by a separate add.
 */
function matmulRaw(
  a: Tensor,
  b: Tensor,
  transA: boolean,
  transB: boolean,
  bias?: Tensor,
): Tensor {
  const p = plan(a, b, transA, transB);
  if (bias && (p.bBatched || bias.size !== p.N)) {
    throw new Error(`matmul: a bias of ${shapeStr(bias.shape)} for a product of ${p.N} columns`);
  }
  // A batched a times a 2-D b is one big matmul over the stacked rows.
  if (p.aBatched && !p.bBatched && !transA) {
    const a2 = a.view([p.batch * p.M, p.K]);
    const out2 = matmulRaw(a2, b, false, transB, bias);
    a2.dispose();
    const out = out2.view([...p.batchShape, p.M, p.N]);
    out2.dispose();
    return out;
  }
  const out = Tensor.empty([...p.batchShape, p.M, p.N]);
  const { M, K, N, batch } = p;
  if (M * N === 0) return out;
  if (K % 4 === 0 && N % 4 === 0 && K > 0) {
    const an = transA ? noGrad(() => transpose(a)) : a;
    const bn = transB ? noGrad(() => transpose(b)) : b;
    const tile = chooseTile(M, N);
    const withBias = bias ? "_bias" : "";
    launch(
      kernel(`tiled${withBias}_${tile.TM}x${tile.TN}`, () => tiledMatmul(tile, false, !!bias)),
      bias ? [an, bn, out, bias] : [an, bn, out],
      tiledGrid(tile, M, N, batch),
      {
        M,
        K,
        N,
        sa: p.aBatched ? (M * K) / 4 : 0,
        sb: p.bBatched ? (K * N) / 4 : 0,
        sc: (M * N) / 4,
      },
    );
    if (an !== a) an.dispose();
    if (bn !== b) bn.dispose();
    return out;
  }
  // Element (m, k) of op(A) sits at m·aRow + k·aCol.
  const ac = a.shape[a.rank - 1], bc = b.shape[b.rank - 1];
  const aRow = transA ? 1 : ac, aCol = transA ? ac : 1;
  const bRow = transB ? 1 : bc, bCol = transB ? bc : 1;
  const st = chooseStridedTile(M, N);
  const k = kernel(`strided_${st.TM}x${st.TN}`, () => stridedMatmul(st));
  launch(k, [a, b, out], stridedGrid(M, N, batch, st), {
    M,
    K,
    N,
    aRow,
    aCol,
    aBatch: p.aBatched ? M * K : 0,
    bRow,
    bCol,
    bBatch: p.bBatched ? K * N : 0,
    cBatch: M * N,
    batch,
  });
  return bias ? addBias(out, bias) : out;
}

/** out + bias (tape-free), out released. */
function addBias(out: Tensor, bias: Tensor): Tensor {
  const sum = noGrad(() => add(out, bias));
  out.dispose();
  return sum;
}

/**
 * a · b (+ bias) for a frozen linear layer (b = Wᵀ [K, N], bias [N]), tape-free: the caller
 * records the input gradient. The bias is added as the product is stored where the tiled kernel
 * runs.
 */
export function matmulBias(a: Tensor, b: Tensor, bias?: Tensor): Tensor {
  assertF32("matmulBias", a, b, ...(bias ? [bias] : []));
  return matmulRaw(a, b, false, false, bias);
}

/**
 * Batched matrix product over the last two axes: op(a) · op(b), where op transposes when
 * `transA`/`transB` is set. Batch axes must match, or one operand must be 2-D.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  assertF32("matmul", a, b);
  const tA = !!opts.transA, tB = !!opts.transB;
  const out = matmulRaw(a, b, tA, tB);
  return record(out, "matmul", [a, b], (g) => {
    // C = op(A)·op(B): dop(A) = g·op(B)ᵀ, dop(B) = op(A)ᵀ·g; transposed operands swap roles.
    let da: Tensor | null = null, db: Tensor | null = null;
    if (a.requiresGrad) {
      da = tA ? matmulRaw(b, g, tB, true) : matmulRaw(g, b, false, !tB);
      da = reduceTo(da, a.shape);
    }
    if (b.requiresGrad) {
      db = tB ? matmulRaw(g, a, true, tA) : matmulRaw(a, g, !tA, false);
      db = reduceTo(db, b.shape);
    }
    return [da, db];
  });
}

function reduceTo(t: Tensor, shape: Shape): Tensor {
  if (t.rank === shape.length) return t;
  const r = sumTo(t, shape);
  t.dispose();
  return r;
}

// ---- Frozen weights as f16 pairs ------------------------------------------------------------
// OpenAI's CLIP checkpoints were released in fp16, so their f32 copies (HF's included) hold
// values that f16 represents exactly. Stored as f16 pairs such a matrix is read with half the
// loads and gives the same product bit for bit; that is only done where every value is exact.

/** B of a product, [K, N] as f16 pairs: `bits` holds K rows of N/2 words (i32 storage). */
export interface HalfMatrix {
  readonly bits: Tensor;
  readonly K: number;
  readonly N: number;
}

/** The f16 bits of `data`, or null when some value is not an f16 value (NaN included). */
function halfWords(data: Float32Array): Uint16Array | null {
  const half = new Float16Array(data); // one native conversion
  for (let i = 0; i < data.length; i++) if (half[i] !== data[i]) return null;
  return new Uint16Array(half.buffer);
}

/** True when every value is an f16 value (finite, exactly representable; -0 counts). */
export function halfExact(data: Float32Array): boolean {
  return halfWords(data) !== null;
}

/** 16-bit words of B [K, N] uploaded as its f16 pairs. */
function uploadHalf(words: Uint16Array, K: number, N: number): HalfMatrix {
  return { bits: Tensor.from(new Int32Array(words.buffer), [K, N / 2], { dtype: "i32" }), K, N };
}

/** The transpose of a [rows, cols] matrix of 16-bit words (moving words, not converting). */
function transposeWords(w: Uint16Array, rows: number, cols: number): Uint16Array {
  const t = new Uint16Array(rows * cols);
  for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) t[c * rows + r] = w[r * cols + c];
  return t;
}

/**
 * Packs a host matrix `data` [rows, cols] (or its transpose, with `transpose`) as the B of
 * `matmulHalf`. Refuses values f16 does not hold exactly, and N (cols, or rows when
 * transposed) that is not a multiple of 8 or K that is not a multiple of 4.
 */
export function packHalf(
  data: Float32Array,
  rows: number,
  cols: number,
  transpose = false,
): HalfMatrix {
  if (data.length !== rows * cols) {
    throw new Error(`packHalf: ${data.length} values do not make a [${rows}, ${cols}] matrix`);
  }
  const [K, N] = transpose ? [cols, rows] : [rows, cols];
  if (N % 8 !== 0 || K % 4 !== 0) {
    throw new Error(`packHalf: B [${K}, ${N}] needs K % 4 == 0 and N % 8 == 0`);
  }
  const words = halfWords(data);
  if (!words) throw new Error("packHalf: values that f16 does not hold exactly");
  return uploadHalf(transpose ? transposeWords(words, rows, cols) : words, K, N);
}

/**
 * Both layouts of a frozen nn.Linear weight W [out, in] as f16 pairs: `fwd` = Wᵀ for x·Wᵀ and
 * `bwd` = W for the input gradient g·W; null when some value is not an f16 value. One conversion
 * serves the check and both layouts (the weights of a large CLIP are ~10⁸ values).
 */
export function packLinearHalf(
  data: Float32Array,
  out: number,
  inp: number,
): { fwd: HalfMatrix; bwd: HalfMatrix } | null {
  if (data.length !== out * inp || out % 8 !== 0 || inp % 8 !== 0) {
    throw new Error(`packLinearHalf: W [${out}, ${inp}] needs ${out * inp} values, out and in % 8`);
  }
  const words = halfWords(data);
  if (!words) return null;
  return {
    fwd: uploadHalf(transposeWords(words, out, inp), inp, out),
    bwd: uploadHalf(words, out, inp),
  };
}

/**
 * a · B (+ bias, N values on every row) for a [..., M, K] and a packed B (no tape: callers that
 * need one record it).
 */
export function matmulHalf(a: Tensor, b: HalfMatrix, bias?: Tensor): Tensor {
  assertF32("matmulHalf", a, ...(bias ? [bias] : []));
  if (bias && bias.size !== b.N) {
    throw new Error(`matmulHalf: a bias of ${shapeStr(bias.shape)} for [${b.K}, ${b.N}]`);
  }
  const K = a.shape[a.rank - 1];
  if (a.rank < 1 || K !== b.K) {
    throw new Error(`matmulHalf: inner sizes differ: ${shapeStr(a.shape)} · [${b.K}, ${b.N}]`);
  }
  const M = a.size / Math.max(K, 1), N = b.N;
  const out = Tensor.empty([...a.shape.slice(0, -1), N]);
  if (M * N === 0) return out;
  const tile = chooseTile(M, N);
  if (tile.TN % 8 !== 0) throw new Error(`matmulHalf: tile ${tile.TM}x${tile.TN} is not 8-wide`);
  launch(
    kernel(
      `tiled_halfB${bias ? "_bias" : ""}_${tile.TM}x${tile.TN}`,
      () => tiledMatmul(tile, true, !!bias),
    ),
    bias ? [a, b.bits, out, bias] : [a, b.bits, out],
    tiledGrid(tile, M, N, 1),
    { M, K, N, sa: 0, sb: 0, sc: 0 },
  );
  return out;
}

/** x · wᵀ + bias with w in PyTorch's [out, in] layout (nn.Linear). */
export function linear(x: Tensor, w: Tensor, bias?: Tensor): Tensor {
  const y = matmul(x, w, { transB: true });
  if (!bias) return y;
  return adopt(add(y, bias), [y]);
}
