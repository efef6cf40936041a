// BadCLIP's trigger (Liang et al., CVPR 2024): a patch optimised on the clean model so that
// patched images align with the target caption's text feature, pasted at the centre.
//
// Per step: a minibatch of clean [0, 1] images gets the patch at the centre → CLIP's
// normalisation → clip.encodeImage → cosine to the target text direction; Adam maximises the
// mean cosine and the patch is clamped to [0, 1] after every step. The patch starts from
// N(0.5, 0.25) clipped to [0, 1], as the code's `--init random`. The BadCLIP code
// (src/embeding_optimize_patch.py) minimises CLIP's contrastive loss between patched images and
// target captions, optionally plus a term pulling patched features toward natural target-class
// images (its "dual embedding"); here the text term is the cosine to the (mean) target text
// feature and the image term is optional (`targetImageFeatures`).

import {
  add,
  concat,
  l2Normalize,
  matmul,
  mean,
  mul,
  neg,
  reshape,
  zeros,
} from "../autograd/ops/index.ts";
import { Adam, clampInPlace } from "../autograd/optim.ts";
import { noGrad, Tensor, tidy } from "../autograd/tensor.ts";
import type { Clip } from "../clip/model.ts";
import type { ClipTokenizer } from "../clip/tokenizer.ts";
import { centreOffset, checkSquareBatch, clamp01, type ImageShape, scaledSide } from "./pixels.ts";
import { encodePixels } from "../clip/pixels.ts";
import { STREAM, streamRandom } from "./rng.ts";
import { batchDrawer } from "../io/rng.ts";

export interface BadClipPatchOptions {
  /** Patch side in pixels (default round(16·R/224): BadCLIP's 16 px at 224). */
  patchSize?: number;
  /** Adam steps (default 200). */
  steps?: number;
  /** Adam learning rate (default 0.01). */
  lr?: number;
  /** Images per step (default 32, at most the number of images). */
  batchSize?: number;
  /** Seed of the initial patch and of the minibatch order (default 0). */
  seed?: number;
  /** Features [K, E] of natural target-class images: adds weight·cos(patched, their mean). */
  targetImageFeatures?: Tensor;
  /** Weight of the image term (default 1). */
  imageWeight?: number;
  /** Called after every step with the mean text cosine of its minibatch (before its update). */
  onStep?: (step: number, cosine: number) => void;
}

export interface BadClipPatchResult {
  /** The optimised patch [3, p, p] in [0, 1]. */
  patch: Float32Array;
  patchSize: number;
  /** The initial patch (for comparisons). */
  initialPatch: Float32Array;
  /** Mean cosine to the target text direction of each step's minibatch, before its update. */
  cosines: number[];
  /** Mean cosine over all images: clean, with the initial patch, with the optimised patch. */
  cleanCosine: number;
  initialCosine: number;
  finalCosine: number;
  seconds: number;
}

/** Text features [K, E] of captions naming the target (e.g. templates filled with "banana"). */
export function encodeTargetText(
  clip: Clip,
  tokenizer: ClipTokenizer,
  texts: string | readonly string[],
): Tensor {
  const tokens = tokenizer.tokenize(texts, clip.config.contextLength);
  return noGrad(() => clip.encodeText(tokens));
}

/** The unit mean direction [1, E] of the L2-normalised rows of [E] or [K, E] features. */
function direction(features: Tensor): Tensor {
  const rows = features.rank === 1 ? reshape(features, [1, features.shape[0]]) : features;
  if (rows.rank !== 2) throw new Error(`target features must be [E] or [K, E], got ${features}`);
  return l2Normalize(mean(l2Normalize(rows), 0, true));
}

/** [3, p, p] → [1, 3, R, R]: the patch at (off, off), zeros elsewhere (differentiable). */
function padPatch(patch: Tensor, p: number, R: number, off: number): Tensor {
  const around = (t: Tensor, axis: number, before: number, after: number, shape: number[]) => {
    const at = (n: number) => zeros(shape.map((d, i) => (i === axis ? n : d)));
    const parts = [before > 0 ? at(before) : null, t, after > 0 ? at(after) : null];
    const kept = parts.filter((x): x is Tensor => x !== null);
    return kept.length === 1 ? t : concat(kept, axis);
  };
  const rows = around(patch, 1, off, R - off - p, [3, 0, p]);
  const full = around(rows, 2, off, R - off - p, [3, R, 0]);
  return reshape(full, [1, 3, R, R]);
}

/**
 * Optimises BadCLIP's patch on a (clean) CLIP: `images` [N, 3, R, R] in [0, 1] at the model's
 * resolution R (BadCLIP uses non-target-class images), `targetText` the target caption's text
 * features ([E] or [K, E], e.g. from encodeTargetText). Returns the patch for badclip().
 */
export async function optimiseBadClipPatch(
  clip: Clip,
  targetText: Tensor,
  images: Float32Array,
  shape: ImageShape,
  opts: BadClipPatchOptions = {},
): Promise<BadClipPatchResult> {
  const t0 = performance.now();
  const what = "optimiseBadClipPatch";
  const R = clip.config.imageResolution;
  const n = checkSquareBatch(what, images, shape, R);
  if (n === 0) throw new Error(`${what}: no images`);
  const p = opts.patchSize ?? scaledSide(R, 16);
  if (!Number.isInteger(p) || p < 1 || p > R) {
    throw new Error(`${what}: patchSize must be an integer in [1, ${R}], got ${p}`);
  }
  const steps = opts.steps ?? 200, lr = opts.lr ?? 0.01, seed = opts.seed ?? 0;
  const B = Math.min(opts.batchSize ?? 32, n), imageWeight = opts.imageWeight ?? 1;
  const off = centreOffset(R, p), plane = R * R;

  // Host copies of the images with the patch's square zeroed: patched = holed + pad(patch).
  const holed = images.slice();
  for (let i = 0; i < n * 3; i++) {
    for (let y = off; y < off + p; y++) {
      holed.fill(0, i * plane + y * R + off, i * plane + y * R + off + p);
    }
  }
  const rand = streamRandom(seed, STREAM.badclip);
  const initialPatch = Float32Array.from(
    { length: 3 * p * p },
    () => clamp01(0.5 + 0.25 * rand.normal()),
  );

  const textDir = noGrad(() => tidy(() => direction(targetText))).keep();
  const imageDir = opts.targetImageFeatures
    ? noGrad(() => tidy(() => direction(opts.targetImageFeatures!))).keep()
    : null;
  const patched = (patch: Tensor, idx: readonly number[]) => {
    const x = new Float32Array(idx.length * 3 * plane);
    idx.forEach((i, k) => x.set(holed.subarray(i * 3 * plane, (i + 1) * 3 * plane), k * 3 * plane));
    return add(Tensor.from(x, [idx.length, 3, R, R]), padPatch(patch, p, R, off));
  };
  const cosTo = (feats: Tensor, dir: Tensor) => matmul(feats, dir, { transB: true }); // [B, 1]

  /** Mean text cosine over all images with a host patch (null: the clean images). */
  const evaluate = async (host: Float32Array | null): Promise<number> => {
    let total = 0;
    for (let s = 0; s < n; s += B) {
      const idx = Array.from({ length: Math.min(B, n - s) }, (_, k) => s + k);
      const sum = noGrad(() =>
        tidy(() => {
          const x = host
            ? patched(Tensor.from(host, [3, p, p]), idx)
            : Tensor.from(images.subarray(s * 3 * plane, (s + idx.length) * 3 * plane), [
              idx.length,
              3,
              R,
              R,
            ]);
          const feats = encodePixels(clip, x);
          return mul(mean(cosTo(feats, textDir)), idx.length);
        })
      );
      total += await sum.item();
      sum.dispose();
    }
    return total / n;
  };

  const patch = Tensor.from(initialPatch, [3, p, p], { requiresGrad: true });
  const opt = new Adam([patch], { lr, project: (t) => void clampInPlace(t, 0, 1) });
  const cosines: number[] = [];
  const nextBatch = batchDrawer(n, B, () => rand.uniform());
  try {
    for (let step = 1; step <= steps; step++) {
      const idx = nextBatch();
      const cos = tidy(() => {
        const feats = encodePixels(clip, patched(patch, idx));
        const textCos = mean(cosTo(feats, textDir));
        const gain = imageDir
          ? add(textCos, mul(mean(cosTo(feats, imageDir)), imageWeight))
          : textCos;
        neg(gain).backward();
        opt.step();
        opt.zeroGrad();
        return textCos;
      });
      const v = await cos.item();
      cos.dispose();
      if (!Number.isFinite(v)) throw new Error(`${what}: cosine became ${v} at step ${step}`);
      cosines.push(v);
      opts.onStep?.(step, v);
    }
    const final = await patch.toArray();
    const [cleanCosine, initialCosine, finalCosine] = [
      await evaluate(null),
      await evaluate(initialPatch),
      await evaluate(final),
    ];
    return {
      patch: final,
      patchSize: p,
      initialPatch,
      cosines,
      cleanCosine,
      initialCosine,
      finalCosine,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    patch.dispose();
    opt.dispose();
    textDir.dispose();
    imageDir?.dispose();
  }
}
