// Network ops: softmax family, layer norm, L2-normalise, cross-entropy, embedding lookup and the
// ViT patch stem. Each fused forward saves what its backward kernel needs.

import { gatherRows as gatherKernel, scatterAddRows } from "../../gpu/shaders/gather.ts";
import {
  crossEntropyBackward,
  crossEntropyForward,
  l2NormalizeBackward,
  l2NormalizeForward,
  layerNormBackwardInput,
  layerNormBackwardParams,
  layerNormForward,
  softmaxBackward,
  softmaxForward,
} from "../../gpu/shaders/rows.ts";
import { adopt, record, shapeStr, Tensor } from "../tensor.ts";
import { assertF32, grid1d, kernel, launch, shapeError } from "./launch.ts";
import { matmul } from "./matmul.ts";
import { fillInPlace, permute, reshape } from "./movement.ts";
import { mean } from "./reduce.ts";

const ROW_WG = 64;

/** Options of {@link softmax} and {@link logSoftmax}. */
export interface SoftmaxOptions {
  /** Mask columns after the row's position within each square [T, T] block (CLIP's text mask). */
  causal?: boolean;
}

function softmaxOp(log: boolean, x: Tensor, opts: SoftmaxOptions): Tensor {
  const op = log ? "logSoftmax" : "softmax";
  assertF32(op, x);
  if (x.rank === 0) throw new Error(`${op}: needs at least one axis`);
  const N = x.shape[x.rank - 1];
  const causal = !!opts.causal;
  if (causal && (x.rank < 2 || x.shape[x.rank - 2] !== N)) {
    throw shapeError(op, "a causal mask needs square trailing axes [..., T, T]", x);
  }
  const rows = x.size / Math.max(N, 1);
  const y = Tensor.empty(x.shape);
  const uni = { n: rows, N, causal: causal ? 1 : 0 };
  launch(kernel(`${op}.fwd`, () => softmaxForward(log)), [x, y], grid1d(rows, ROW_WG), uni);
  return record(y, op, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    launch(kernel(`${op}.bwd`, () => softmaxBackward(log)), [y, dy, dx], grid1d(rows, ROW_WG), uni);
    return [dx];
  });
}

/** Softmax over the last axis. */
export const softmax = (x: Tensor, opts: SoftmaxOptions = {}): Tensor => softmaxOp(false, x, opts);
/** Log-softmax over the last axis. */
export const logSoftmax = (x: Tensor, opts: SoftmaxOptions = {}): Tensor =>
  softmaxOp(true, x, opts);

/** Layer norm over the last axis with weight and bias (fused; PyTorch's eps default). */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-5): Tensor {
  assertF32("layerNorm", x, weight, bias);
  const N = x.shape[x.rank - 1];
  if (weight.size !== N || bias.size !== N) {
    throw shapeError("layerNorm", `weight and bias need ${N} elements`, x, weight, bias);
  }
  const rows = x.size / N;
  const y = Tensor.empty(x.shape);
  const stats = Tensor.empty([rows, 2]);
  const uni = { n: rows, N, eps };
  launch(
    kernel("ln.fwd", layerNormForward),
    [x, weight, bias, y, stats],
    grid1d(rows, ROW_WG),
    uni,
  );
  return record(y, "layerNorm", [x, weight, bias], (dy) => {
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape);
      launch(
        kernel("ln.bwd_x", layerNormBackwardInput),
        [x, weight, stats, dy, dx],
        grid1d(rows, ROW_WG),
        uni,
      );
    }
    if (weight.requiresGrad || bias.requiresGrad) {
      dw = Tensor.empty(weight.shape);
      db = Tensor.empty(bias.shape);
      launch(
        kernel("ln.bwd_wb", layerNormBackwardParams),
        [x, stats, dy, dw, db],
        grid1d(N, ROW_WG),
        { n: N, rows },
      );
    }
    return [dx, dw, db];
  }, [stats]);
}

/** x / max(‖x‖₂, eps) over the last axis (torch.nn.functional.normalize). */
export function l2Normalize(x: Tensor, eps = 1e-12): Tensor {
  assertF32("l2Normalize", x);
  const N = x.shape[x.rank - 1];
  const rows = x.size / N;
  const y = Tensor.empty(x.shape);
  const norm = Tensor.empty([rows]);
  const uni = { n: rows, N, eps };
  launch(kernel("l2.fwd", l2NormalizeForward), [x, y, norm], grid1d(rows, ROW_WG), uni);
  return record(y, "l2Normalize", [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    launch(kernel("l2.bwd", l2NormalizeBackward), [y, norm, dy, dx], grid1d(rows, ROW_WG), uni);
    return [dx];
  }, [norm]);
}

/** Labels as an i32 tensor, uploading (and range-checking) plain arrays. */
function labelTensor(op: string, labels: Tensor | ArrayLike<number>, rows: number, C: number) {
  if (labels instanceof Tensor) {
    if (labels.dtype !== "i32" || labels.size !== rows) {
      throw new Error(`${op}: labels must be an i32 tensor of ${rows} elements, got ${labels}`);
    }
    return { t: labels, owned: false };
  }
  if (labels.length !== rows) throw new Error(`${op}: ${labels.length} labels for ${rows} rows`);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (!Number.isInteger(v) || v < 0 || v >= C) {
      throw new Error(`${op}: label ${v} at row ${i} is not a class index in [0, ${C})`);
    }
  }
  return { t: Tensor.from(labels, [rows], { dtype: "i32" }), owned: true };
}

/**
 * Mean cross-entropy of `logits` [N, C] against integer `labels` [N] (fused log-softmax + NLL),
 * or the per-row losses with reduction "none".
 */
export function crossEntropy(
  logits: Tensor,
  labels: Tensor | ArrayLike<number>,
  reduction: "mean" | "none" = "mean",
): Tensor {
  assertF32("crossEntropy", logits);
  if (logits.rank !== 2) throw shapeError("crossEntropy", "logits must be [N, C]", logits);
  const [rows, C] = logits.shape;
  const { t: lab, owned } = labelTensor("crossEntropy", labels, rows, C);
  const losses = Tensor.empty([rows]);
  const lse = Tensor.empty([rows]);
  launch(
    kernel("ce.fwd", crossEntropyForward),
    [logits, lab, losses, lse],
    grid1d(rows, ROW_WG),
    { n: rows, N: C },
  );
  const perRow = record(losses, "crossEntropy", [logits], (g) => {
    const dx = Tensor.empty(logits.shape);
    launch(
      kernel("ce.bwd", crossEntropyBackward),
      [logits, lab, lse, g, dx],
      grid1d(rows * C),
      { n: rows * C, N: C },
    );
    return [dx];
  }, owned ? [lse, lab] : [lse]);
  if (reduction === "none") return perRow;
  return adopt(mean(perRow), [perRow]);
}

function indexTensor(op: string, ids: Tensor | ArrayLike<number>, V: number): Tensor {
  if (ids instanceof Tensor) {
    if (ids.dtype !== "i32") throw new Error(`${op}: indices must be i32, got ${ids}`);
    return ids;
  }
  for (let i = 0; i < ids.length; i++) {
    if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= V) {
      throw new Error(`${op}: index ${ids[i]} at position ${i} is outside the table's ${V} rows`);
    }
  }
  return Tensor.from(ids, [ids.length], { dtype: "i32" });
}

/**
 * Rows of `table` [V, D] picked by integer `ids` (shape [...]): result [..., D]. The gradient
 * is a deterministic scatter-add into the table. (Embedding lookup.)
 */
export function gatherRows(table: Tensor, ids: Tensor | ArrayLike<number>): Tensor {
  assertF32("gatherRows", table);
  if (table.rank !== 2) throw shapeError("gatherRows", "the table must be [V, D]", table);
  const [V, D] = table.shape;
  const idx = indexTensor("gatherRows", ids, V);
  const idShape = ids instanceof Tensor ? ids.shape : [ids.length];
  const rows = idx.size;
  const out = Tensor.empty([...idShape, D]);
  launch(kernel("gather", gatherKernel), [table, idx, out], grid1d(rows * D), {
    n: rows * D,
    D,
    V,
  });
  return record(out, "gatherRows", [table], (g) => {
    const dt = fillInPlace(Tensor.empty(table.shape), 0);
    launch(kernel("scatter_add", scatterAddRows), [g, idx, dt], grid1d(D), { n: D, rows, V });
    return [dt];
  }, idx === ids ? [] : [idx]);
}

/** Another name for gatherRows. */
export const embedding = gatherRows;

/**
 * A convolution whose stride equals its kernel (the ViT patch stem, no bias):
 * x [B, C, H, W], w [D, C, P, P] → [B, (H/P)·(W/P), D], patches in row-major order.
 * Built from reshape, permute and one matmul, so its gradient comes from theirs.
 */
export function patchConv(x: Tensor, w: Tensor): Tensor {
  assertF32("patchConv", x, w);
  if (x.rank !== 4 || w.rank !== 4) {
    throw shapeError("patchConv", "x must be [B, C, H, W] and w [D, C, P, P]", x, w);
  }
  const [B, C, H, W] = x.shape;
  const [D, Cw, P, P2] = w.shape;
  if (Cw !== C || P !== P2 || H % P !== 0 || W % P !== 0) {
    throw new Error(
      `patchConv: ${shapeStr(x.shape)} with weight ${shapeStr(w.shape)}: need matching ` +
        `channels, square patches and H, W divisible by the patch size`,
    );
  }
  const gh = H / P, gw = W / P;
  const x6 = reshape(x, [B, C, gh, P, gw, P]);
  const patches = permute(x6, [0, 2, 4, 1, 3, 5]); // [B, gh, gw, C, P, P]
  const cols = reshape(patches, [B * gh * gw, C * P * P]);
  const w2 = reshape(w, [D, C * P * P]);
  const y = matmul(cols, w2, { transB: true });
  return adopt(reshape(y, [B, gh * gw, D]), [x6, patches, cols, w2, y]);
}
