// Image sets on the host: pixel space [0, 1], CHW f32, image after image. Triggers are applied
// here; CLIP's normalisation runs on the GPU (src/clip/pixels.ts).

/** A batch of pixel-space images [N, 3, R, R] in [0, 1]. */
export interface ImageSet {
  /** The pixels, image after image, CHW. */
  pixels: Float32Array;
  /** The number of images. */
  n: number;
  /** The side R of every image. */
  size: number;
}

/** A view of image `i` of the set. */
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
