// CBPT's losses on GPU tensors. Features passed in are L2-normalised unless stated.

import {
  concat,
  crossEntropy,
  exp,
  gatherRows,
  logSoftmax,
  matmul,
  mean,
  mul,
  relu,
  sub,
  sum,
  where,
} from "../autograd/ops/index.ts";
import { Tensor } from "../autograd/tensor.ts";

/**
 * Stage 1's backdoor-collapse InfoNCE. For each triggered feature z̃_i the positives are the
 * other triggered features (a backdoor sends every triggered image to one region); the negatives
 * are the clean features z_k of the batch and the text feature of its true class:
 *   L = -1/B Σ_i 1/(B-1) Σ_{j≠i} log( e^{z̃_i·z̃_j/τ} / (Σ_{q≠i} e^{z̃_i·z̃_q/τ} + Σ_k e^{z̃_i·z_k/τ} + e^{z̃_i·w_{y_i}/τ}) )
 * trig [B, E], clean [B, E], classText [C, E], labels: B class indices.
 */
export function triggerInfoNce(
  trig: Tensor,
  clean: Tensor,
  classText: Tensor,
  labels: readonly number[],
  tau: number,
): Tensor {
  const B = trig.shape[0];
  if (B < 2) throw new Error("triggerInfoNce: needs a batch of at least 2 images");
  const inv = 1 / tau;
  const pos = mul(matmul(trig, trig, { transB: true }), inv); // [B, B]
  const diag = Tensor.from(Array.from({ length: B * B }, (_, k) => (k % (B + 1) === 0 ? 1 : 0)), [
    B,
    B,
  ]);
  const posMasked = where(diag, -1e4, pos); // exclude i itself from the denominator
  const negImg = mul(matmul(trig, clean, { transB: true }), inv); // [B, B]
  const wy = gatherRows(classText, labels); // [B, E]
  const negTxt = mul(sum(mul(trig, wy), 1, true), inv); // [B, 1]
  const logp = logSoftmax(concat([posMasked, negImg, negTxt], 1)); // [B, 2B+1]
  const sel = new Float32Array(B * (2 * B + 1));
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) if (j !== i) sel[i * (2 * B + 1) + j] = 1 / ((B - 1) * B);
  }
  return mul(sum(mul(logp, Tensor.from(sel, [B, 2 * B + 1]))), -1);
}

/** Cross-entropy of scale·img·textᵀ against labels (CLIP's classification loss). */
export function classificationLoss(
  img: Tensor,
  text: Tensor,
  labels: readonly number[],
  logitScale: number,
): Tensor {
  return crossEntropy(mul(matmul(img, text, { transB: true }), logitScale), labels);
}

/** L_3 default (KgCoOp-style anchor): mean_c ‖w_c − w_c⁰‖² of normalised class features. */
export function anchorLoss(text: Tensor, text0: Tensor): Tensor {
  const d = sub(text, text0);
  return mul(sum(mul(d, d)), 1 / text.shape[0]);
}

/**
 * L_3 alternative: hinge pushing triggered images' true-class score above the suspected target's
 * by `margin` (cosine units), over images whose class is not the target.
 */
export function marginLoss(
  trigImg: Tensor,
  text: Tensor,
  labels: readonly number[],
  target: number,
  margin: number,
): Tensor {
  const keep = labels.map((y, i) => (y === target ? -1 : i)).filter((i) => i >= 0);
  if (keep.length === 0) return mul(sum(trigImg), 0);
  const s = matmul(gatherRows(trigImg, keep), text, { transB: true }); // [K, C]
  const C = text.shape[0];
  const sel = (col: (i: number) => number) => {
    const m = new Float32Array(keep.length * C);
    keep.forEach((i, r) => (m[r * C + col(i)] = 1));
    return Tensor.from(m, [keep.length, C]);
  };
  const sTarget = sum(mul(s, sel(() => target)), 1);
  const sTrue = sum(mul(s, sel((i) => labels[i])), 1);
  return mean(relu(sub(sub(sTarget, sTrue), -margin)));
}

/** L_3 alternative: KL(p(x) ‖ p(x̃)) of the class distributions, mean over the batch. */
export function consistencyLoss(
  cleanImg: Tensor,
  trigImg: Tensor,
  text: Tensor,
  logitScale: number,
): Tensor {
  const lp = logSoftmax(mul(matmul(cleanImg, text, { transB: true }), logitScale));
  const lq = logSoftmax(mul(matmul(trigImg, text, { transB: true }), logitScale));
  return mul(sum(mul(exp(lp), sub(lp, lq))), 1 / cleanImg.shape[0]);
}
