// From [0, 1] pixels to CLIP's image features on the GPU: the one place the normalisation (the
// model's own mean/std, `clip.pixelStats`: CLIP's unless its checkpoint says otherwise) runs on
// a tensor, and the one spelling of "unit image features of these pixels" that every
// stage, attack and defence uses.

import { concat, div, exp, l2Normalize, matmul, mul, softmax, sub } from "../autograd/ops/index.ts";
import { noGrad, readTensors, Tensor, tidy } from "../autograd/tensor.ts";
import { rt } from "../gpu/runtime.ts";
import type { ImageSet } from "../io/images.ts";
import type { Clip } from "./model.ts";
import { CLIP_PIXEL_STATS, type PixelStats } from "./pixel_stats.ts";

/**
 * Normalised pixels from [0, 1] ones [B, C, H, W]: (x − mean) / std per channel with `stats`
 * (CLIP's by default; a model's own: `clip.pixelStats`), differentiable. C = 1 (grey)
 * broadcasts to 3.
 */
export function clipNormalize(x01: Tensor, stats: PixelStats = CLIP_PIXEL_STATS): Tensor {
  const mean = Tensor.from(stats.mean, [1, 3, 1, 1]);
  const std = Tensor.from(stats.std, [1, 3, 1, 1]);
  return div(sub(x01, mean), std);
}

/**
 * L2-normalised image features [B, E] of [0, 1] pixels [B, 3, R, R], differentiable; the
 * pixels are normalised with the model's own mean/std (`clip.pixelStats`).
 */
export function encodePixels(clip: Clip, x01: Tensor): Tensor {
  return l2Normalize(clip.encodeImage(clipNormalize(x01, clip.pixelStats)));
}

/**
 * Images per image-tower call such that the tower's largest activation (a ViT's MLP hidden or
 * attention scores, a ResNet's first stage) stays within a quarter of the adapter's largest
 * storage binding: a whole test set in one call overflowed it (2,000 images of a width-128 ViT
 * at 28 px asked for a 154 MB binding).
 */
export function imageChunk(clip: Clip, cap = 64): number {
  const c = clip.config, R = c.imageResolution;
  let floats: number;
  if (c.visionKind === "vit") {
    const t = (Math.floor(R / c.visionPatchSize)) ** 2 + 1;
    floats = Math.max(t * 4 * c.visionWidth, c.visionHeads * t * t);
  } else {
    floats = Math.max(4 * c.visionWidth * (R / 4) ** 2, (c.visionWidth / 2) * (R / 2) ** 2);
  }
  return Math.max(1, Math.min(cap, Math.floor(rt().maxBinding / 4 / (4 * floats))));
}

/**
 * L2-normalised image features [n, E] of a set, encoded `chunk` images at a time (the tower's
 * activations stay bounded) with no GPU sync: callers read the result back once or keep it.
 */
export function imageFeatures(
  clip: Clip,
  set: ImageSet,
  chunk: number = imageChunk(clip),
): Tensor {
  const R = set.size, m = 3 * R * R;
  return noGrad(() =>
    tidy(() => {
      const parts: Tensor[] = [];
      for (let s = 0; s < set.n; s += chunk) {
        const n = Math.min(chunk, set.n - s);
        parts.push(tidy(() =>
          encodePixels(clip, Tensor.from(set.pixels.subarray(s * m, (s + n) * m), [n, 3, R, R]))
        ));
      }
      return parts.length === 1 ? parts[0] : concat(parts, 0);
    })
  );
}

/** Zero-shot predictions (argmax over `classText`) for [0, 1] images, in chunks. */
export async function predictClasses(
  clip: Clip,
  set: ImageSet,
  classText: Tensor,
  chunk = 64,
): Promise<number[]> {
  const C = classText.shape[0];
  const scores = noGrad(() =>
    tidy(() => matmul(imageFeatures(clip, set, chunk), classText, { transB: true }))
  );
  const [v] = await readTensors([scores]); // one sync for the whole set
  scores.dispose();
  return rowArgmax(v, C);
}

/** The index of each row's largest value in a row-major [rows, C] array (ties: the first). */
export function rowArgmax(v: ArrayLike<number>, C: number): number[] {
  return Array.from({ length: Math.floor(v.length / C) }, (_, r) => {
    let best = 0;
    for (let c = 1; c < C; c++) if (v[r * C + c] > v[r * C + best]) best = c;
    return best;
  });
}

/**
 * Class probabilities as CLIP reports them, row-major [n, C]: the softmax of logit_scale.exp()
 * times the cosine of each image's features (`images`: [n, E] unit features) with each class's
 * ([C, E] unit features).
 */
export async function classProbabilities(
  clip: Clip,
  images: Tensor,
  classFeatures: Tensor,
): Promise<Float32Array> {
  const probs = noGrad(() =>
    tidy(() => {
      const scale = exp(clip.param("logit_scale"));
      return softmax(mul(matmul(images, classFeatures, { transB: true }), scale));
    })
  );
  const [p] = await readTensors([probs]);
  probs.dispose();
  return p;
}
