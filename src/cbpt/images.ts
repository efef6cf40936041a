// Images for CBPT live in pixel space [0, 1] (CHW, f32) on the host: triggers are applied there,
// then CLIP's normalisation runs on the GPU. Augmentation (CoOp's random-resized-crop + flip)
// is plain TypeScript: images are small and it runs once per cached view.

import { concat, div, l2Normalize, sub } from "../autograd/ops/index.ts";
import { noGrad, Tensor, tidy } from "../autograd/tensor.ts";
import type { Clip } from "../clip/model.ts";
import { rt } from "../gpu/runtime.ts";
import { CLIP_MEAN, CLIP_STD } from "../clip/preprocess.ts";

/** A batch of pixel-space images [N, 3, R, R] in [0, 1]. */
export interface ImageSet {
  pixels: Float32Array;
  n: number;
  size: number;
}

export function imageAt(set: ImageSet, i: number): Float32Array {
  const m = 3 * set.size * set.size;
  return set.pixels.subarray(i * m, (i + 1) * m);
}

/** Picks images by index into a new set. */
export function subset(set: ImageSet, idx: readonly number[]): ImageSet {
  const m = 3 * set.size * set.size;
  const pixels = new Float32Array(idx.length * m);
  idx.forEach((k, j) => pixels.set(imageAt(set, k), j * m));
  return { pixels, n: idx.length, size: set.size };
}

/** CLIP-normalised pixels from [0, 1] ones: (x - mean) / std per channel. */
export function normalizeOnGpu(x01: Tensor): Tensor {
  const mean = Tensor.from(CLIP_MEAN, [1, 3, 1, 1]);
  const std = Tensor.from(CLIP_STD, [1, 3, 1, 1]);
  return div(sub(x01, mean), std);
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
export function imageFeatures(clip: Clip, set: ImageSet, chunk = imageChunk(clip)): Tensor {
  const R = set.size, m = 3 * R * R;
  return noGrad(() =>
    tidy(() => {
      const parts: Tensor[] = [];
      for (let s = 0; s < set.n; s += chunk) {
        const n = Math.min(chunk, set.n - s);
        parts.push(tidy(() => {
          const x = Tensor.from(set.pixels.subarray(s * m, (s + n) * m), [n, 3, R, R]);
          return l2Normalize(clip.encodeImage(normalizeOnGpu(x)));
        }));
      }
      return parts.length === 1 ? parts[0] : concat(parts, 0);
    })
  );
}

/** Back from CLIP-normalised pixels (preprocessImage's output) to [0, 1]. */
export function denormalize(pixels: Float32Array, size: number): Float32Array {
  const out = new Float32Array(pixels.length);
  const plane = size * size;
  for (let i = 0; i < pixels.length; i++) {
    const c = Math.floor(i / plane) % 3;
    out[i] = Math.min(1, Math.max(0, pixels[i] * CLIP_STD[c] + CLIP_MEAN[c]));
  }
  return out;
}

/** Seeded uniform [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of `a` in place with `rand` (one draw per position, last to first). */
export function shuffleInPlace<T>(a: T[], rand: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * torchvision RandomResizedCrop (scale (0.08, 1), ratio (3/4, 4/3), 10 tries then centre crop)
 * with bilinear resampling back to the same size, then a horizontal flip with probability 1/2.
 */
export function augment(img: Float32Array, size: number, rand: () => number): Float32Array {
  const area = size * size;
  let cw = size, ch = size, x0 = 0, y0 = 0;
  for (let t = 0; t < 10; t++) {
    const target = area * (0.08 + 0.92 * rand());
    const logr = Math.log(3 / 4) + (Math.log(4 / 3) - Math.log(3 / 4)) * rand();
    const r = Math.exp(logr);
    const w = Math.round(Math.sqrt(target * r)), h = Math.round(Math.sqrt(target / r));
    if (w > 0 && h > 0 && w <= size && h <= size) {
      [cw, ch] = [w, h];
      x0 = Math.floor(rand() * (size - w + 1));
      y0 = Math.floor(rand() * (size - h + 1));
      break;
    }
  }
  const flip = rand() < 0.5;
  const out = new Float32Array(3 * area);
  for (let c = 0; c < 3; c++) {
    const src = img.subarray(c * area, (c + 1) * area);
    for (let y = 0; y < size; y++) {
      const sy = Math.min(ch - 1, Math.max(0, (y + 0.5) * (ch / size) - 0.5)) + y0;
      const ya = Math.floor(sy), yb = Math.min(ya + 1, y0 + ch - 1), fy = sy - ya;
      for (let x = 0; x < size; x++) {
        const xx = flip ? size - 1 - x : x;
        const sx = Math.min(cw - 1, Math.max(0, (xx + 0.5) * (cw / size) - 0.5)) + x0;
        const xa = Math.floor(sx), xb = Math.min(xa + 1, x0 + cw - 1), fx = sx - xa;
        const top = src[ya * size + xa] * (1 - fx) + src[ya * size + xb] * fx;
        const bot = src[yb * size + xa] * (1 - fx) + src[yb * size + xb] * fx;
        out[c * area + y * size + x] = top * (1 - fy) + bot * fy;
      }
    }
  }
  return out;
}

/** Writes a CHW [0, 1] image as a PNG (atomically). */
export async function writePng(path: string, chw: Float32Array, size: number): Promise<void> {
  await writeAtomic(path, await pngBytes(chw, size));
}

/** A CHW [0, 1] image of side `size` as PNG bytes (8-bit RGB). */
export async function pngBytes(chw: Float32Array, size: number): Promise<Uint8Array> {
  const { default: sharp } = await import("sharp");
  const rgb = new Uint8Array(size * size * 3);
  const plane = size * size;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      rgb[i * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, chw[c * plane + i])));
    }
  }
  const png = await sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png()
    .toBuffer();
  return new Uint8Array(png);
}

/** Writes bytes to `path` through a temporary file in the same folder and a rename. */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
