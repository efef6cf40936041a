// Convolution, average pooling and inference-mode batch norm, forward and backward.
//
// Layout: the convolution runs channels-last (NHWC: x [B, H, W, C]), with weights in PyTorch's
// [O, C, kh, kw]. Channels innermost make a convolution an implicit GEMM on the register-tiled
// matmul scheme (src/gpu/shaders/conv.ts): the output [B·Ho·Wo, O] = cols · Wm, where cols (the
// im2col matrix, never materialised) gathers whole vec4s of channels, and Wm [kh·kw·C, O] is the
// weight re-laid out (per call, or once per frozen weight with a ConvWeightCache). A 1×1
// stride-1 convolution is exactly the matmul x [B·H·W, C] · Wᵀ over channels on the same kernel.
// `conv2d` is the PyTorch-layout (NCHW) op: a permute to NHWC, `conv2dNhwc`, a permute back.
// Networks built here (src/clip/resnet.ts) stay NHWC throughout and skip the permutes.
// `conv2dBnNhwc` fuses a frozen batch norm (folded into Wm and a bias), a residual add and a
// ReLU into the convolution's store.
//
// Gradients: dX of a stride-1 convolution is the same implicit GEMM over dY with the flipped,
// transposed weights; strided convolutions take dCols = dY · Wmᵀ (a matmul) and a col2im
// gather; dW = colsᵀ · dY with colsᵀ materialised by a gather (in chunks of images, so that no
// buffer passes convLimits.colsBudget). Channel counts that are not multiples of 4 are zero-padded.

import { stridesOf } from "../../gpu/shaders/common.ts";
import {
  avgPoolBackward,
  avgPoolForward,
  batchNormBackwardInput,
  batchNormBackwardParams,
  batchNormFold,
  batchNormForward,
  col2im,
  im2colT,
  implicitConv,
  implicitConvGrid,
  matrixToWeight,
  reluMask,
  weightToMatrix,
} from "../../gpu/shaders/conv.ts";
import type { TileShape } from "../../gpu/shaders/matmul.ts";
import { adopt, record, type Shape, shapeStr, Tensor } from "../tensor.ts";
import { add, relu } from "./elementwise.ts";
import { assertF32, grid1d, kernel, launch, normAxis, shapeError } from "./launch.ts";
import { matmul } from "./matmul.ts";
import { copyStrided, permute, slice, zeros } from "./movement.ts";

/**
 * Largest gathered matrix (colsᵀ, dCols) in floats (64 MiB); bigger ones are built per chunk of
 * images. Tests lower it to exercise the chunking.
 */
export const convLimits = { colsBudget: 1 << 24 };

/** Options of the convolutions ({@link conv2d}, {@link conv2dNhwc}). */
export interface Conv2dOptions {
  /** Step between windows: one number for both axes, or [height, width] (default 1). */
  stride?: number | readonly [number, number];
  /** Zero padding on each side: one number or [height, width] (default 0). */
  padding?: number | readonly [number, number];
  /** Keeps the weight's kernel layouts across calls while the weight is frozen. */
  weightCache?: ConvWeightCache;
}

/**
 * The re-laid-out matrices of frozen convolution weights, kept across calls (a model owns one
 * and disposes it with its weights). Re-laying out costs ~7 ns per weight element on llvmpipe:
 * ~0.2 s per RN50 forward, as much again per backward. A weight that requires grad is re-laid-out on every call and its entries
 * are dropped, so a weight trained and frozen again is never read stale. Values written into a
 * frozen weight by other means need `evict(w)`.
 */
export class ConvWeightCache {
  #m = new Map<Tensor, Map<string, Tensor>>();

  /** The matrix `key` of `w`, made by `make` once while w is frozen; `owned`: caller frees it. */
  lookup(w: Tensor, key: string, make: () => Tensor): { t: Tensor; owned: boolean } {
    if (w.requiresGrad) {
      this.evict(w);
      return { t: make(), owned: true };
    }
    let per = this.#m.get(w);
    if (!per) this.#m.set(w, per = new Map());
    let t = per.get(key);
    if (!t || t.disposed) per.set(key, t = make().keep());
    return { t, owned: false };
  }

  /** Frees what is kept for `w`. */
  evict(w: Tensor): void {
    for (const t of this.#m.get(w)?.values() ?? []) t.dispose();
    this.#m.delete(w);
  }

  /** Bytes held on the GPU. */
  get bytes(): number {
    let n = 0;
    for (const per of this.#m.values()) for (const t of per.values()) n += 4 * t.size;
    return n;
  }

  /** Frees everything kept. */
  dispose(): void {
    for (const w of [...this.#m.keys()]) this.evict(w);
  }
}

interface Geometry {
  B: number;
  H: number;
  W: number;
  C: number;
  O: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  Ho: number;
  Wo: number;
  /** C and O rounded up to multiples of 4 (the vec4 kernels' granularity). */
  Cp: number;
  Op: number;
}

const ceil4 = (n: number) => Math.ceil(n / 4) * 4;

function pair(op: string, what: string, v: number | readonly number[], min: number) {
  const p = typeof v === "number" ? [v, v] : [...v];
  if (p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= min)) {
    throw new Error(`${op}: ${what} ${JSON.stringify(v)} must be an integer >= ${min} or a pair`);
  }
  return p as [number, number];
}

function geometry(x: Tensor, w: Tensor, opts: Conv2dOptions): Geometry {
  if (x.rank !== 4 || w.rank !== 4) {
    throw shapeError("conv2d", "x must be [B, H, W, C] (NHWC) and w [O, C, kh, kw]", x, w);
  }
  const [B, H, W, C] = x.shape;
  const [O, Cw, kh, kw] = w.shape;
  if (Cw !== C) {
    throw new Error(
      `conv2d: weight ${shapeStr(w.shape)} expects ${Cw} input channels, x has ${C} ` +
        `(groups are not supported)`,
    );
  }
  const [sh, sw] = pair("conv2d", "stride", opts.stride ?? 1, 1);
  const [ph, pw] = pair("conv2d", "padding", opts.padding ?? 0, 0);
  const Ho = Math.floor((H + 2 * ph - kh) / sh) + 1;
  const Wo = Math.floor((W + 2 * pw - kw) / sw) + 1;
  if (!(Ho >= 1 && Wo >= 1) || kh < 1 || kw < 1 || O < 1 || C < 1) {
    throw new Error(
      `conv2d: a ${kh}×${kw} kernel with padding ${ph},${pw} does not fit an input of ` +
        `${H}×${W} (x ${shapeStr(x.shape)}, w ${shapeStr(w.shape)})`,
    );
  }
  return { B, H, W, C, O, kh, kw, sh, sw, ph, pw, Ho, Wo, Cp: ceil4(C), Op: ceil4(O) };
}

/** [..., C] → [..., Cp] with zeros in the new channels (the same tensor when C == Cp). */
function padChannels(x: Tensor, Cp: number): Tensor {
  const C = x.shape[x.rank - 1];
  if (C === Cp) return x;
  const out = zeros([...x.shape.slice(0, -1), Cp]);
  copyStrided(x, 0, stridesOf(x.shape), out, 0, stridesOf(out.shape), x.shape);
  return out;
}

/** [..., Cp] → its first C channels (disposes the input when it copies). */
function cropChannels(x: Tensor, C: number): Tensor {
  if (x.shape[x.rank - 1] === C) return x;
  const shape = [...x.shape.slice(0, -1), C];
  const out = Tensor.empty(shape);
  copyStrided(x, 0, stridesOf(x.shape), out, 0, stridesOf(shape), shape);
  x.dispose();
  return out;
}

type WeightLayout =
  | "taps_in_out" // [kh, kw, Cp, Op]: the forward's Wm
  | "flipped_taps_out_in" // [kh, kw, Op, Cp] with taps reversed: dX of a stride-1 conv
  | "out_taps_in"; // [Op, kh, kw, Cp] = Wmᵀ: dCols of a strided conv

/** Strides (sKy, sKx, sC, sO) of a layout, and whether the taps are reversed. */
function layoutStrides(g: Geometry, l: WeightLayout): [number, number, number, number, boolean] {
  const { kh, kw, Cp, Op } = g;
  if (l === "taps_in_out") return [kw * Cp * Op, Cp * Op, Op, 1, false];
  if (l === "flipped_taps_out_in") return [kw * Op * Cp, Op * Cp, 1, Cp, true];
  return [kw * Cp, Cp, 1, kh * kw * Cp, false];
}

/** The sizes of the weight-layout kernels' uniforms, over n elements. */
function weightFields(g: Geometry, n: number) {
  return { n, O: g.O, C: g.C, Op: g.Op, Cp: g.Cp, kh: g.kh, kw: g.kw };
}

/** w in layout `l`, its output channels scaled by `scale` [Op] when given (a folded BN). */
function weightMatrix(w: Tensor, g: Geometry, l: WeightLayout, scale?: Tensor): Tensor {
  const K = g.kh * g.kw * g.Cp;
  const out = Tensor.empty(
    l === "out_taps_in" ? [g.Op, K] : l === "taps_in_out" ? [K, g.Op] : [
      g.kh * g.kw * g.Op,
      g.Cp,
    ],
  );
  const [sKy, sKx, sC, sO, flip] = layoutStrides(g, l);
  const n = out.size;
  launch(kernel("conv.w2m", weightToMatrix), [w, scale ?? w, out], grid1d(n), {
    ...weightFields(g, n),
    flip: flip ? 1 : 0,
    sKy,
    sKx,
    sC,
    sO,
    scaled: scale ? 1 : 0,
  });
  return out;
}

/** The register tile for an implicit GEMM of N columns: the matmul cost model over 3 tiles. */
function convTile(M: number, N: number): TileShape {
  let best = 32, bestCost = Infinity;
  for (const TN of [32, 16, 8]) {
    const cost = Math.ceil(M / 16) * Math.ceil(N / TN) * ((16 + TN) * 32 + 16 * TN);
    if (cost < bestCost) [best, bestCost] = [TN, cost];
  }
  return { TM: 16, TN: best, WG: 16 };
}

interface ImplicitShape {
  B: number;
  inH: number;
  inW: number;
  /** Input channels (multiple of 4). */
  C: number;
  outH: number;
  outW: number;
  /** Output channels (multiple of 4). */
  N: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

/** What the store adds: a bias [N], a residual [B, outH, outW, N], then a ReLU. */
interface Epilogue {
  bias?: Tensor;
  residual?: Tensor;
  relu?: boolean;
}

/**
 * Y [B, outH, outW, N] = implicit-GEMM convolution of X [B, inH, inW, C] with Wm [kh·kw·C, N],
 * then the epilogue.
 */
function implicitGemm(x: Tensor, wm: Tensor, s: ImplicitShape, e: Epilogue = {}): Tensor {
  const y = Tensor.empty([s.B, s.outH, s.outW, s.N]);
  const M = s.B * s.outH * s.outW;
  const t = convTile(M, s.N);
  launch(
    kernel(`conv.implicit_${t.TM}x${t.TN}`, () => implicitConv(t)),
    [x, wm, e.bias ?? wm, e.residual ?? x, y],
    implicitConvGrid(t, M, s.N),
    {
      M,
      N: s.N,
      C4: s.C / 4,
      nct: Math.ceil(s.N / t.TN),
      inH: s.inH,
      inW: s.inW,
      outH: s.outH,
      outW: s.outW,
      kh: s.kh,
      kw: s.kw,
      sh: s.sh,
      sw: s.sw,
      ph: s.ph,
      pw: s.pw,
      bias: e.bias ? 1 : 0,
      relu: e.relu ? 1 : 0,
      residual: e.residual ? 1 : 0,
    },
  );
  return y;
}

/** The geometry fields of the gather kernels' uniforms (channels padded). */
function geomFields(g: Geometry) {
  const { kh, kw, sh, sw, ph, pw } = g;
  return { inH: g.H, inW: g.W, C: g.Cp, outH: g.Ho, outW: g.Wo, kh, kw, sh, sw, ph, pw };
}

/** Images per chunk so that a [images·Ho·Wo, K] gathered matrix stays within the budget. */
function imagesPerChunk(g: Geometry, K: number): number {
  return Math.max(1, Math.min(g.B, Math.floor(convLimits.colsBudget / (g.Ho * g.Wo * K))));
}

/** Rows [b0·Ho·Wo, b1·Ho·Wo) of gp [B·Ho·Wo, Op] (the tensor itself when that is all of it). */
function imageRows(gp2: Tensor, g: Geometry, b0: number, b1: number): Tensor {
  if (b0 === 0 && b1 === g.B) return gp2;
  return slice(gp2, 0, b0 * g.Ho * g.Wo, b1 * g.Ho * g.Wo);
}

type Matrices = (l: WeightLayout) => { t: Tensor; owned: boolean };

function inputGrad(gp: Tensor, matrices: Matrices, g: Geometry): Tensor {
  if (g.sh === 1 && g.sw === 1) {
    const { t: wt, owned } = matrices("flipped_taps_out_in");
    const dx = implicitGemm(gp, wt, {
      B: g.B,
      inH: g.Ho,
      inW: g.Wo,
      C: g.Op,
      outH: g.H,
      outW: g.W,
      N: g.Cp,
      kh: g.kh,
      kw: g.kw,
      sh: 1,
      sw: 1,
      ph: g.kh - 1 - g.ph,
      pw: g.kw - 1 - g.pw,
    });
    if (owned) wt.dispose();
    return cropChannels(dx, g.C);
  }
  const K = g.kh * g.kw * g.Cp;
  const { t: wT, owned } = matrices("out_taps_in");
  const dx = Tensor.empty([g.B, g.H, g.W, g.Cp]);
  const gp2 = gp.view([g.B * g.Ho * g.Wo, g.Op]);
  const step = imagesPerChunk(g, K);
  for (let b0 = 0; b0 < g.B; b0 += step) {
    const b1 = Math.min(g.B, b0 + step);
    const rows = imageRows(gp2, g, b0, b1);
    const dcols = matmul(rows, wT); // [rows, K]
    if (rows !== gp2) rows.dispose();
    const n = (b1 - b0) * g.H * g.W * g.Cp;
    launch(kernel("conv.col2im", col2im), [dcols, dx], grid1d(n), { n, b0, ...geomFields(g) });
    dcols.dispose();
  }
  gp2.dispose();
  if (owned) wT.dispose();
  return cropChannels(dx, g.C);
}

function weightGrad(x: Tensor, gp: Tensor, g: Geometry): Tensor {
  const K = g.kh * g.kw * g.Cp;
  const xp = padChannels(x, g.Cp);
  const gp2 = gp.view([g.B * g.Ho * g.Wo, g.Op]);
  const step = imagesPerChunk(g, K);
  let dwm: Tensor | null = null;
  for (let b0 = 0; b0 < g.B; b0 += step) {
    const b1 = Math.min(g.B, b0 + step);
    const Mc = (b1 - b0) * g.Ho * g.Wo;
    const colsT = Tensor.empty([K, Mc]);
    const n = colsT.size;
    launch(kernel("conv.im2col_t", im2colT), [xp, colsT], grid1d(n), {
      n,
      Mc,
      m0: b0 * g.Ho * g.Wo,
      ...geomFields(g),
    });
    const rows = imageRows(gp2, g, b0, b1);
    const part = matmul(colsT, rows); // [K, Op]
    colsT.dispose();
    if (rows !== gp2) rows.dispose();
    if (dwm) {
      const s = add(dwm, part);
      dwm.dispose();
      part.dispose();
      dwm = s;
    } else dwm = part;
  }
  gp2.dispose();
  if (xp !== x) xp.dispose();
  const dw = Tensor.empty([g.O, g.C, g.kh, g.kw]);
  const [sKy, sKx, sC, sO] = layoutStrides(g, "taps_in_out");
  launch(kernel("conv.m2w", matrixToWeight), [dwm!, dw], grid1d(dw.size), {
    ...weightFields(g, dw.size),
    flip: 0,
    sKy,
    sKx,
    sC,
    sO,
    scaled: 0,
  });
  dwm!.dispose();
  return dw;
}

/** The forward geometry of the implicit GEMM. */
function forwardShape(g: Geometry): ImplicitShape {
  return {
    B: g.B,
    inH: g.H,
    inW: g.W,
    C: g.Cp,
    outH: g.Ho,
    outW: g.Wo,
    N: g.Op,
    kh: g.kh,
    kw: g.kw,
    sh: g.sh,
    sw: g.sw,
    ph: g.ph,
    pw: g.pw,
  };
}

/** The weight's matrices: from the cache under `tag`, or made per call (and freed by the user). */
function matricesOf(w: Tensor, g: Geometry, opts: Conv2dOptions, tag = "", scale?: Tensor) {
  const cache = opts.weightCache;
  const m: Matrices = (l) =>
    cache
      ? cache.lookup(w, l + tag, () => weightMatrix(w, g, l, scale))
      : { t: weightMatrix(w, g, l, scale), owned: true };
  return m;
}

/**
 * 2-D convolution, channels-last: x [B, H, W, C], w [O, C, kh, kw] (PyTorch's layout, no bias)
 * → [B, Ho, Wo, O], Ho = ⌊(H + 2·padding - kh) / stride⌋ + 1. Any kernel, stride and padding;
 * one group. Gradients to x and w.
 */
export function conv2dNhwc(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  assertF32("conv2d", x, w);
  const g = geometry(x, w, opts);
  const matrices = matricesOf(w, g, opts);
  const xp = padChannels(x, g.Cp);
  const { t: wm, owned } = matrices("taps_in_out");
  const yp = implicitGemm(xp, wm, forwardShape(g));
  if (owned) wm.dispose();
  if (xp !== x) xp.dispose();
  const y = cropChannels(yp, g.O);
  return record(y, "conv2d", [x, w], (dy) => {
    const gp = padChannels(dy, g.Op);
    const dx = x.requiresGrad ? inputGrad(gp, matrices, g) : null;
    const dw = w.requiresGrad ? weightGrad(x, gp, g) : null;
    if (gp !== dy) gp.dispose();
    return [dx, dw];
  });
}

/** A batch norm with frozen statistics, as `conv2dBnNhwc` takes it. */
export interface BatchNormParams {
  /** The per-channel scale γ, [C]. */
  weight: Tensor;
  /** The per-channel shift β, [C]. */
  bias: Tensor;
  /** The running mean, [C]. */
  runningMean: Tensor;
  /** The running variance, [C]. */
  runningVar: Tensor;
  /** Default 1e-5. */
  eps?: number;
}

/** Options of {@link conv2dBnNhwc}: the convolution's, plus what follows the batch norm. */
export interface ConvBnOptions extends Conv2dOptions {
  /** Added after the batch norm, before the ReLU (a residual connection), [B, Ho, Wo, O]. */
  residual?: Tensor;
  /** Apply ReLU last (default false). */
  relu?: boolean;
}

/**
 * relu?(batchNorm(conv2dNhwc(x, w)) + residual?), channels-last, with the batch norm over the
 * output channels. When w and the batch norm are frozen (no gradients wanted), the batch norm's
 * scale folds into the weight matrix and its shift, the residual and the ReLU into the
 * convolution's store: one kernel, no intermediate tensors; gradients go to x and the residual.
 * Otherwise it is the composition of the separate ops (gradients to everything).
 */
export function conv2dBnNhwc(
  x: Tensor,
  w: Tensor,
  bn: BatchNormParams,
  opts: ConvBnOptions = {},
): Tensor {
  assertF32("conv2d", x, w);
  const eps = bn.eps ?? 1e-5;
  const bnParams = [bn.weight, bn.bias, bn.runningMean, bn.runningVar];
  const g = geometry(x, w, opts);
  const res = opts.residual;
  if (res && (res.rank !== 4 || res.shape.some((d, i) => d !== [g.B, g.Ho, g.Wo, g.O][i]))) {
    throw shapeError("conv2dBn", `the residual must be [${[g.B, g.Ho, g.Wo, g.O]}]`, res);
  }
  if (w.requiresGrad || bnParams.some((p) => p.requiresGrad) || g.O !== g.Op) {
    const c = conv2dNhwc(x, w, opts);
    const [bw, bb, bm, bv] = bnParams;
    const bnOpts = { axis: -1, relu: opts.relu && !res };
    let y = adopt(batchNormInference(c, bw, bb, bm, bv, eps, bnOpts), [c]);
    if (res) {
      y = adopt(add(y, res), [y]);
      if (opts.relu) y = adopt(relu(y), [y]);
    }
    return y;
  }
  for (const p of bnParams) {
    if (p.size !== g.O) throw shapeError("conv2dBn", `batch norm needs ${g.O} channels`, w, p);
  }
  // The folded affine map, cached with the weight's matrices under the batch norm's identity.
  const tag = `+bn${bn.weight.id}`;
  let folded: { scale: Tensor; shift: Tensor; owned: boolean } | null = null;
  const fold = () => {
    if (folded) return folded;
    const make = () => {
      const scale = Tensor.empty([g.Op]), shift = Tensor.empty([g.Op]);
      launch(kernel("bn.fold", batchNormFold), [...bnParams, scale, shift], grid1d(g.Op), {
        n: g.Op,
        C: g.O,
        eps,
      });
      return { scale, shift };
    };
    const cache = opts.weightCache;
    if (!cache) return folded = { ...make(), owned: true };
    let made: { scale: Tensor; shift: Tensor } | null = null;
    const once = () => made ??= make();
    const scale = cache.lookup(w, "scale" + tag, () => once().scale);
    const shift = cache.lookup(w, "shift" + tag, () => once().shift);
    return folded = { scale: scale.t, shift: shift.t, owned: false };
  };
  const f = fold();
  const matrices = matricesOf(w, g, opts, tag, f.scale);
  const xp = padChannels(x, g.Cp);
  const { t: wm, owned } = matrices("taps_in_out");
  const y = implicitGemm(xp, wm, forwardShape(g), {
    bias: f.shift,
    residual: res,
    relu: opts.relu,
  });
  if (owned) wm.dispose();
  if (xp !== x) xp.dispose();
  const inputs = res ? [x, res] : [x];
  return record(y, "conv2dBn", inputs, (dy) => {
    let dz = dy;
    if (opts.relu) {
      dz = Tensor.empty(dy.shape);
      launch(kernel("conv.relu_mask", reluMask), [y, dy, dz], grid1d(dy.size), { n: dy.size });
    }
    const dx = x.requiresGrad ? inputGrad(dz, matrices, g) : null;
    return res ? [dx, dz] : [dx];
  }, f.owned ? [f.scale, f.shift] : []);
}

/**
 * 2-D convolution as torch.nn.functional.conv2d (NCHW, no bias, groups 1): x [B, C, H, W],
 * w [O, C, kh, kw] → [B, O, Ho, Wo]. Runs `conv2dNhwc` between two permutes.
 */
export function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  if (x.rank !== 4) throw shapeError("conv2d", "x must be [B, C, H, W]", x);
  const xh = permute(x, [0, 2, 3, 1]);
  const yh = conv2dNhwc(xh, w, opts);
  return adopt(permute(yh, [0, 3, 1, 2]), [xh, yh]);
}

// ---- average pooling ------------------------------------------------------------------------

function avgPool(
  x: Tensor,
  dims: [number, number, number, number],
  outShape: (Ho: number, Wo: number) => Shape,
  kernelSize: number | readonly [number, number],
  stride: number | readonly [number, number] | undefined,
): Tensor {
  assertF32("avgPool2d", x);
  const [, H, W, C] = dims;
  const [kh, kw] = pair("avgPool2d", "kernel", kernelSize, 1);
  const [sh, sw] = pair("avgPool2d", "stride", stride ?? kernelSize, 1);
  const Ho = Math.floor((H - kh) / sh) + 1, Wo = Math.floor((W - kw) / sw) + 1;
  if (!(Ho >= 1 && Wo >= 1)) {
    throw new Error(`avgPool2d: a ${kh}×${kw} window does not fit ${H}×${W} (${x})`);
  }
  const y = Tensor.empty(outShape(Ho, Wo));
  const uni = (n: number) => ({ n, H, W, C, Ho, Wo, kh, kw, sh, sw, inv: 1 / (kh * kw) });
  launch(kernel("avg_pool.fwd", avgPoolForward), [x, y], grid1d(y.size), uni(y.size));
  return record(y, "avgPool2d", [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    launch(kernel("avg_pool.bwd", avgPoolBackward), [dy, dx], grid1d(x.size), uni(x.size));
    return [dx];
  });
}

/**
 * Average pooling as torch.nn.AvgPool2d(kernel, stride) with padding 0 and ceil_mode false:
 * x [B, C, H, W] → [B, C, Ho, Wo], Ho = ⌊(H - kh) / stride⌋ + 1; stride defaults to the kernel.
 */
export function avgPool2d(
  x: Tensor,
  kernelSize: number | readonly [number, number],
  stride?: number | readonly [number, number],
): Tensor {
  if (x.rank !== 4) throw shapeError("avgPool2d", "x must be [B, C, H, W]", x);
  const [B, C, H, W] = x.shape;
  return avgPool(x, [B * C, H, W, 1], (Ho, Wo) => [B, C, Ho, Wo], kernelSize, stride);
}

/** `avgPool2d` for channels-last x [B, H, W, C] → [B, Ho, Wo, C]. */
export function avgPool2dNhwc(
  x: Tensor,
  kernelSize: number | readonly [number, number],
  stride?: number | readonly [number, number],
): Tensor {
  if (x.rank !== 4) throw shapeError("avgPool2d", "x must be [B, H, W, C]", x);
  const [B, H, W, C] = x.shape;
  return avgPool(x, [B, H, W, C], (Ho, Wo) => [B, Ho, Wo, C], kernelSize, stride);
}

// ---- batch norm (inference) -----------------------------------------------------------------

/** Options of {@link batchNormInference}. */
export interface BatchNormOptions {
  /** The channel axis (default 1, NCHW as in PyTorch; -1 for channels-last). */
  axis?: number;
  /** Apply ReLU to the result in the same kernel. */
  relu?: boolean;
}

/**
 * Batch norm with frozen statistics (torch.nn.BatchNorm2d in eval mode):
 * y = (x - runningMean) / sqrt(runningVar + eps) · weight + bias per channel, optionally
 * followed by ReLU. Gradients go to x, weight and bias; the running statistics are buffers and
 * get none.
 */
export function batchNormInference(
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  eps = 1e-5,
  opts: BatchNormOptions = {},
): Tensor {
  assertF32("batchNorm", x, weight, bias, runningMean, runningVar);
  const ax = normAxis("batchNorm", opts.axis ?? 1, x.rank);
  const C = x.shape[ax];
  for (const p of [weight, bias, runningMean, runningVar]) {
    if (p.size !== C) {
      throw shapeError("batchNorm", `parameters need ${C} elements (channel axis ${ax})`, x, p);
    }
  }
  let outer = 1, inner = 1;
  for (let d = 0; d < ax; d++) outer *= x.shape[d];
  for (let d = ax + 1; d < x.rank; d++) inner *= x.shape[d];
  const relu = opts.relu ? 1 : 0;
  const uni = (n: number) => ({ n, C, inner, outer, eps, relu });
  const params = [weight, bias, runningMean, runningVar];
  const y = Tensor.empty(x.shape);
  launch(kernel("bn.fwd", batchNormForward), [x, ...params, y], grid1d(x.size), uni(x.size));
  return record(y, "batchNorm", [x, weight, bias, runningMean, runningVar], (dy) => {
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape);
      launch(
        kernel("bn.bwd_x", batchNormBackwardInput),
        [y, ...params, dy, dx],
        grid1d(x.size),
        uni(x.size),
      );
    }
    if (weight.requiresGrad || bias.requiresGrad) {
      dw = Tensor.empty(weight.shape);
      db = Tensor.empty(bias.shape);
      launch(
        kernel("bn.bwd_wb", batchNormBackwardParams),
        [x, y, ...params, dy, dw, db],
        grid1d(C),
        uni(C),
      );
    }
    return [dx, dw, db, null, null];
  });
}
