// Image batches as the attacks see them: CHW float32 in [0, 1] (pixel space, before CLIP's
// normalisation), [N, 3, H, W] row-major in one Float32Array. Plus the conversion to CLIP's
// normalised input, on the host and on the GPU, and the placement rules the attacks share.

import { CLIP_PIXEL_STATS, type PixelStats } from "../clip/pixel_stats.ts";

/** [N, 3, H, W]. */
export type ImageShape = readonly [number, number, number, number];

/** Checks that `images` holds a batch of `shape` (3 channels); returns [N, H, W]. */
export function checkBatch(
  what: string,
  images: Float32Array,
  shape: ImageShape,
): [number, number, number] {
  if (shape.length !== 4 || shape[1] !== 3 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`${what}: images must be [N, 3, H, W], got [${shape}]`);
  }
  const [n, , h, w] = shape;
  if (images.length !== n * 3 * h * w) {
    throw new Error(`${what}: ${images.length} values do not fill [${shape}]`);
  }
  return [n, h, w];
}

/** Checks a square batch of side `size`; returns N. */
export function checkSquareBatch(
  what: string,
  images: Float32Array,
  shape: ImageShape,
  size: number,
): number {
  const [n, h, w] = checkBatch(what, images, shape);
  if (h !== size || w !== size) {
    throw new Error(`${what}: the attack was made for ${size}×${size} images, got ${h}×${w}`);
  }
  return n;
}

export const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/**
 * The normalisation on the host: (x − mean[c]) / std[c] for [0, 1] images [N, 3, H, W] (the
 * array preprocessImage returns, for pixels the attacks made), with `stats` (CLIP's by
 * default; a model's own: `clip.pixelStats`). A new array.
 */
export function toClipPixels(
  images01: Float32Array,
  shape: ImageShape,
  stats: PixelStats = CLIP_PIXEL_STATS,
): Float32Array {
  const [n, h, w] = checkBatch("toClipPixels", images01, shape);
  const plane = h * w, out = new Float32Array(images01.length);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const m = stats.mean[c], s = stats.std[c], base = (i * 3 + c) * plane;
      for (let k = base; k < base + plane; k++) out[k] = (images01[k] - m) / s;
    }
  }
  return out;
}

/** A side scaled from its size at 224 px (16 at 224 → round(16·size/224)), at least 1. */
export function scaledSide(size: number, at224: number): number {
  return Math.max(1, Math.round((at224 * size) / 224));
}

/**
 * Top-left corner of a side-`l` patch "in the middle" of a side-`size` image, as the BadCLIP
 * code computes it: int(int(size / 2) − l / 2).
 */
export function centreOffset(size: number, l: number): number {
  return Math.floor(Math.floor(size / 2) - l / 2);
}

/**
 * Copies `images` with a [3, l, l] patch written over rows top..top+l−1 and columns
 * left..left+l−1 of image `i` (clamped to [0, 1]; the rest copied unchanged).
 */
export function pastePatch(
  out: Float32Array,
  i: number,
  size: number,
  patch: Float32Array,
  l: number,
  top: number,
  left: number,
): void {
  const plane = size * size;
  for (let c = 0; c < 3; c++) {
    const base = (i * 3 + c) * plane;
    for (let y = 0; y < l; y++) {
      const row = base + (top + y) * size + left, src = (c * l + y) * l;
      for (let x = 0; x < l; x++) out[row + x] = clamp01(patch[src + x]);
    }
  }
}

/** A copy of the batch clamped to [0, 1]. */
export function clampedCopy(images: Float32Array): Float32Array {
  const out = new Float32Array(images.length);
  for (let k = 0; k < images.length; k++) out[k] = clamp01(images[k]);
  return out;
}
