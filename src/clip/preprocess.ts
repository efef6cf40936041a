// CLIP image preprocessing, bit-for-bit with openai/CLIP's `_transform(n_px)` on Pillow:
//
//   Resize(n_px, BICUBIC) -> CenterCrop(n_px) -> convert("RGB") -> ToTensor -> Normalize(mean, std)
//
// sharp (libvips) only decodes; the resize, crop, mode conversion and normalisation are a port of
// what Pillow and torchvision do, so the result equals the upstream tensor (0 difference on every
// image in fixtures/oracle/reference/preprocess-224.safetensors). The Pillow details that matter:
//
// - Resize keeps the aspect ratio: the shorter side becomes n_px, the longer
//   int(n_px * long / short) (torchvision truncates). CenterCrop's offsets are
//   int(round((side - n_px) / 2.0)) with Python's round-half-to-even.
// - Pillow's BICUBIC (Resample.c): Keys cubic with a = -0.5, support 2 scaled by the downscale
//   factor (antialiasing), coefficients normalised then quantised to 22-bit fixed point; a
//   horizontal pass then a vertical one, each rounding and clipping to uint8 (Pillow >= 12 runs
//   the vertical pass first for images more than 100 times taller than wide; so do we).
// - The mode decides the resample: "P" (palette) and "1" (1-bit) images are resized with NEAREST
//   whatever filter is asked for; "RGBA"/"LA" are premultiplied (RGBa) around the resize and
//   un-premultiplied after it with integer division; convert("RGB") then simply DROPS alpha (no
//   compositing on a background). The resize happens before convert("RGB"), in the file's mode.
// - 16-bit greyscale PNG opens as "I;16": resampled in float by the 16-bit path (the horizontal
//   pass's overshoot is kept, not clipped to 255), then convert("RGB") CLIPS each value to 0..255
//   (it does not scale), so a typical 16-bit greyscale photo comes out almost white. That is what
//   upstream CLIP sees, so it is what we produce. 16-bit RGB and RGBA PNGs (and grey+alpha, which
//   Pillow opens as RGBA) keep the high byte of each sample (v >> 8).
// - CMYK JPEGs are resized as 4 CMYK bands, then converted with Pillow's naive formula
//   (no ICC). Embedded ICC profiles are ignored everywhere, as Pillow ignores them.
// - GIF opens as "P", except when its palette is the identity grey ramp: then as "L" (bicubic).
//   A transparent pixel shows its palette colour (libvips decodes it as alpha 0: we put it back).
// - No EXIF auto-rotation: Image.open does not apply the Orientation tag, and neither do we.
// - The tensor steps round like torch: float32(v / 255), then float32((x - mean) / std).
//   mean/std are CLIP's unless the caller passes others (`stats`: a checkpoint's own, read by
//   pixel_stats.ts), each set's lookup tables made once.
//
// Checked bit-exact against Pillow 12.3 on the 9 shared reference images and on 60 generated
// cases (every mode above, PNG/JPEG/progressive JPEG/WebP lossy+lossless/GIF, sizes from 3x5 to
// 230x23100, n_px 7/64/224/336). Other formats (TIFF, AVIF...) take the generic path (mode from
// channels and alpha), right for 8-bit RGB(A)/grey. Speed: see docs/clip-preprocess.md.

import { type Metadata, sharp } from "../io/sharp.ts";
import { checkPixelStats, CLIP_PIXEL_STATS, type PixelStats } from "./pixel_stats.ts";

export { CLIP_MEAN, CLIP_STD } from "./pixel_stats.ts";

/**
 * The default largest image, in pixels (50 megapixels, e.g. 8660×5773; the `maxPixels` option
 * raises or lowers it). Two sizes must fit, both known before anything is decoded:
 * - the size the file's header declares (a 776 KB PNG can declare 16000×16000: 3 GB decoded);
 * - the size CLIP's Resize makes (shorter side to n_px, so the aspect ratio is kept): a
 *   1×100000 strip resized to 224 is 224×22,400,000, 5 gigapixels that Pillow would allocate
 *   (and whose resampling tables grow with it here). At n_px 224 the default allows aspect
 *   ratios up to about 1:996.
 */
export const MAX_IMAGE_PIXELS = 50_000_000;

/** The Pillow mode the image would open as (it decides how the resize behaves). */
export type PilMode = "1" | "L" | "LA" | "P" | "RGB" | "RGBA" | "CMYK" | "I;16";

/** Decoded pixels, interleaved, in the layout of the Pillow mode they stand for. */
export interface DecodedImage {
  mode: PilMode;
  width: number;
  height: number;
  /** Samples per pixel in `data`: "1"/"L"/"I;16" 1, "LA" 2, "P"/"RGB" 3 (palette applied), "RGBA"/"CMYK" 4. */
  channels: number;
  /** Uint16Array for "I;16", Uint8Array otherwise. */
  data: Uint8Array | Uint16Array;
}

/** A file (or byte buffer) that could not be decoded or preprocessed; names the file. */
export class ImageLoadError extends Error {
  /** `path`: the file (or "<bytes>"); `reason`: what went wrong, in a few words. */
  constructor(readonly path: string, reason: string, options?: ErrorOptions) {
    super(`cannot load image ${path}: ${reason}`, options);
    this.name = "ImageLoadError";
  }
}

/** The size limit an image must pass before it is decoded. */
export interface SizeLimit {
  /**
   * Largest image accepted, declared or resized, in pixels (default MAX_IMAGE_PIXELS;
   * Infinity: no limit).
   */
  maxPixels?: number;
}

/** How one image is normalised: whether, and with which mean/std. */
export interface NormalizeOptions {
  /** Normalise (default true); false gives ToTensor's [0, 1] pixels. */
  normalize?: boolean;
  /**
   * The mean/std to normalise with (default CLIP's, CLIP_PIXEL_STATS); pass the model's
   * `clip.pixelStats` to honour the checkpoint's own preprocessing.
   */
  stats?: PixelStats;
}

/** How preprocessImages reads a batch. */
export interface BatchOptions extends SizeLimit, NormalizeOptions {
  /** Record failures in `errors` and keep going (default false: the first failure throws). */
  skipErrors?: boolean;
  /** How many images are decoded at once (default 4). */
  concurrency?: number;
}

/** A preprocessed batch: the pixels of the images that loaded, and what failed. */
export interface PreprocessedBatch {
  /** N·3·size·size float32, image after image, each CHW. */
  pixels: Float32Array;
  /** [N, 3, size, size]. */
  shape: [number, 3, number, number];
  /** Paths of the images in `pixels`, in order. */
  loaded: string[];
  /** The images skipped (with skipErrors), and why. */
  errors: { path: string; message: string }[];
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Decode, resize, crop and normalise one image: CHW float32 [3, size, size] (with
 * `normalize: false`, the [0, 1] pixels before normalisation; `stats`: the mean/std, CLIP's by
 * default).
 */
export async function preprocessImage(
  pathOrBytes: string | Uint8Array,
  size = 224,
  { normalize = true, stats, maxPixels = MAX_IMAGE_PIXELS }: NormalizeOptions & SizeLimit = {},
): Promise<Float32Array> {
  const name = typeof pathOrBytes === "string" ? pathOrBytes : "<bytes>";
  const luts = normalize ? normLut(stats) : UNIT_LUT; // bad stats fail before the decode
  const img = await decodeChecked(pathOrBytes, maxPixels, size);
  try {
    return transformWith(img, size, luts);
  } catch (e) {
    throw new ImageLoadError(name, e instanceof Error ? e.message : String(e), { cause: e });
  }
}

/** Preprocess several images into one [N, 3, size, size] batch. */
export async function preprocessImages(
  paths: readonly string[],
  size = 224,
  { skipErrors = false, concurrency = 4, normalize = true, stats, maxPixels }: BatchOptions = {},
): Promise<PreprocessedBatch> {
  if (normalize) normLut(stats); // bad stats fail once, before any image
  const per = 3 * size * size;
  let pixels = new Float32Array(paths.length * per); // slot i for paths[i]; compacted below
  const ok: boolean[] = new Array(paths.length).fill(false);
  const failures: (string | null)[] = new Array(paths.length).fill(null);
  let next = 0;
  let firstError: unknown = null;
  const worker = async () => {
    while (next < paths.length && firstError === null) {
      const i = next++;
      try {
        const px = await preprocessImage(paths[i], size, { normalize, stats, maxPixels });
        pixels.set(px, i * per);
        ok[i] = true;
      } catch (e) {
        if (!skipErrors) {
          firstError ??= e;
          return;
        }
        failures[i] = e instanceof Error ? e.message : String(e);
      }
    }
  };
  const n = Math.max(1, Math.min(concurrency, paths.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (firstError !== null) throw firstError;

  const loaded: string[] = [];
  const errors: { path: string; message: string }[] = [];
  for (let i = 0; i < paths.length; i++) {
    if (!ok[i]) {
      errors.push({ path: paths[i], message: failures[i] ?? "not loaded" });
      continue;
    }
    if (loaded.length !== i) pixels.copyWithin(loaded.length * per, i * per, (i + 1) * per);
    loaded.push(paths[i]);
  }
  if (loaded.length !== paths.length) pixels = pixels.slice(0, loaded.length * per);
  return { pixels, shape: [loaded.length, 3, size, size], loaded, errors };
}

// ---------------------------------------------------------------------------------------------
// Decoding (sharp) into Pillow's modes

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Mode Pillow gives a PNG, from its IHDR (bit depth and colour type); null if not a PNG. */
function pngMode(b: Uint8Array): PilMode | null {
  if (b.length < 26 || PNG_SIGNATURE.some((v, i) => b[i] !== v)) return null;
  const depth = b[24], colourType = b[25];
  switch (colourType) {
    case 0:
      return depth === 1 ? "1" : depth === 16 ? "I;16" : "L";
    case 2:
      return "RGB";
    case 3:
      return "P";
    case 4:
      return depth === 16 ? "RGBA" : "LA"; // Pillow opens 16-bit grey+alpha as RGBA
    case 6:
      return "RGBA";
  }
  return null;
}

interface GifInfo {
  mode: PilMode;
  /** Palette colour of the first frame's transparent index (what Pillow shows there), if any. */
  transparent: [number, number, number] | null;
}

/**
 * Pillow opens a GIF as "P", or as "L" when the first frame's palette is the grey ramp
 * i -> (i, i, i). Either way a transparent pixel keeps its index, so convert("RGB") shows the
 * palette colour of the transparent index where libvips decodes alpha 0.
 */
function gifInfo(b: Uint8Array): GifInfo | null {
  if (b.length < 13 || b[0] !== 0x47 || b[1] !== 0x49 || b[2] !== 0x46) return null; // "GIF"
  const isRamp = (off: number, bits: number) => {
    const n = 1 << bits;
    if (off + 3 * n > b.length) return false;
    for (let i = 0; i < n; i++) {
      const p = off + 3 * i;
      if (b[p] !== i || b[p + 1] !== i || b[p + 2] !== i) return false;
    }
    return true;
  };
  let pos = 13;
  let palette = -1, ramp = true; // offset of the palette in use, and whether it is the grey ramp
  if (b[10] & 0x80) {
    const bits = (b[10] & 7) + 1;
    palette = pos;
    ramp = isRamp(pos, bits);
    pos += 3 << bits;
  }
  let trns = -1;
  // Extensions up to the first image descriptor, whose local palette takes precedence.
  while (pos < b.length) {
    const tag = b[pos];
    if (tag === 0x21) {
      if (b[pos + 1] === 0xf9 && b[pos + 2] >= 4 && (b[pos + 3] & 1)) trns = b[pos + 6];
      pos += 2;
      while (pos < b.length && b[pos] !== 0) pos += b[pos] + 1;
      pos++;
    } else if (tag === 0x2c) {
      const flags = b[pos + 9];
      if (flags & 0x80) {
        palette = pos + 10;
        ramp = isRamp(palette, (flags & 7) + 1);
      }
      break;
    } else break;
  }
  let transparent: [number, number, number] | null = null;
  if (trns >= 0) {
    const p = palette + 3 * trns;
    transparent = palette >= 0 && p + 2 < b.length
      ? [b[p], b[p + 1], b[p + 2]]
      : ramp
      ? [trns, trns, trns]
      : [0, 0, 0];
  }
  return { mode: ramp ? "L" : "P", transparent };
}

function modeFromMeta(m: Metadata): PilMode {
  if (m.space === "cmyk") return "CMYK";
  if (m.isPalette) return "P";
  const grey = m.space === "b-w" || m.space === "grey16";
  if (grey) {
    if (m.hasAlpha) return "LA";
    if (m.depth === "ushort") return "I;16";
    return m.bitsPerSample === 1 ? "1" : "L";
  }
  return m.hasAlpha ? "RGBA" : "RGB";
}

const CHANNELS: Record<PilMode, number> = {
  "1": 1,
  L: 1,
  "I;16": 1,
  LA: 2,
  P: 3,
  RGB: 3,
  RGBA: 4,
  CMYK: 4,
};

const count = (n: number) => n.toLocaleString("en-US");

/**
 * Refuses an image whose declared size, or whose size once resized so that its shorter side is
 * `resizeTo` (when given), is over `maxPixels`.
 */
function checkImageSize(
  name: string,
  meta: Metadata,
  maxPixels: number,
  resizeTo?: number,
): void {
  const { width: w, height: h } = meta;
  if (!w || !h) throw new ImageLoadError(name, "its header declares no size");
  const limit = `the ${count(maxPixels)}-pixel limit (maxPixels; default MAX_IMAGE_PIXELS)`;
  if (w * h > maxPixels) {
    throw new ImageLoadError(
      name,
      `its header declares ${w}×${h} = ${count(w * h)} pixels, over ${limit}`,
    );
  }
  if (resizeTo === undefined) return;
  const [rw, rh] = resizedSize(w, h, resizeTo);
  if (rw * rh > maxPixels) {
    throw new ImageLoadError(
      name,
      `${w}×${h} resized to ${rw}×${rh} (shorter side ${resizeTo}, aspect ratio kept, as ` +
        `CLIP's Resize does) is ${count(rw * rh)} pixels, over ${limit}`,
    );
  }
}

/**
 * Decode a file or bytes into the pixels of the Pillow mode it would open as; images over
 * `maxPixels` (default MAX_IMAGE_PIXELS) are refused from their header, before decoding.
 */
export function decodeImage(
  pathOrBytes: string | Uint8Array,
  { maxPixels = MAX_IMAGE_PIXELS }: SizeLimit = {},
): Promise<DecodedImage> {
  return decodeChecked(pathOrBytes, maxPixels);
}

/** decodeImage, also refusing images too large once resized to `resizeTo` (the model size). */
async function decodeChecked(
  pathOrBytes: string | Uint8Array,
  maxPixels: number,
  resizeTo?: number,
): Promise<DecodedImage> {
  const name = typeof pathOrBytes === "string" ? pathOrBytes : "<bytes>";
  if (!(maxPixels >= 1)) throw new RangeError(`maxPixels ${maxPixels}: expected a number >= 1`);
  try {
    const bytes = typeof pathOrBytes === "string" ? await Deno.readFile(pathOrBytes) : pathOrBytes;
    const open = (limit: number | false) =>
      sharp(bytes, { ignoreIcc: true, pages: 1, limitInputPixels: limit });
    // The header only, nothing decoded yet; without sharp's limit, whose error would not say
    // the size or how to raise the limit.
    const meta = await open(false).metadata();
    checkImageSize(name, meta, maxPixels, resizeTo);
    const gif = meta.format === "gif" ? gifInfo(bytes) : null;
    const mode = pngMode(bytes) ?? gif?.mode ?? modeFromMeta(meta);
    const wide = meta.depth === "ushort";
    // sharp's own pixel limit backs ours up, should the decoder find another size.
    let pipeline = open(Number.isFinite(maxPixels) ? Math.floor(maxPixels) : false);
    if (mode === "CMYK") pipeline = pipeline.pipelineColourspace("cmyk").toColourspace("cmyk");
    else if (wide) {
      const grey = meta.space === "grey16" || meta.space === "b-w";
      pipeline = pipeline.toColourspace(grey ? "grey16" : "rgb16");
    }
    const { data, info } = await pipeline.raw({ depth: wide ? "ushort" : "uchar" })
      .toBuffer({ resolveWithObject: true });
    const src: Uint8Array | Uint16Array = wide
      ? new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length))
      : new Uint8Array(data.buffer, data.byteOffset, data.length);
    const { width, height, channels } = info;
    return toMode(src, width, height, channels, mode, wide, name, gif?.transparent ?? null);
  } catch (e) {
    if (e instanceof ImageLoadError) throw e;
    const reason = e instanceof Error ? e.message : String(e);
    throw new ImageLoadError(name, reason, { cause: e });
  }
}

/** Rearrange sharp's raw output (1-4 channels, 8 or 16 bit) into the mode's layout. */
function toMode(
  src: Uint8Array | Uint16Array,
  width: number,
  height: number,
  n: number,
  mode: PilMode,
  wide: boolean,
  name: string,
  transparent: [number, number, number] | null,
): DecodedImage {
  const px = width * height;
  if (!(n >= 1 && n <= 4) || src.length !== px * n) {
    throw new ImageLoadError(name, `unexpected decoded layout (${n} channels)`);
  }
  const c = CHANNELS[mode];
  if (mode === "I;16") {
    const out = new Uint16Array(px);
    for (let i = 0; i < px; i++) out[i] = src[i * n];
    return { mode, width, height, channels: 1, data: out };
  }
  const shift = wide ? 8 : 0; // Pillow keeps the high byte of 16-bit RGB/RGBA/LA samples
  const out = new Uint8Array(px * c);
  const srcAlpha = n === 2 || n === 4;
  const colour = n >= 3 && mode !== "CMYK";
  for (let i = 0; i < px; i++) {
    const s = i * n, d = i * c;
    if (mode === "CMYK") {
      for (let k = 0; k < 4; k++) out[d + k] = src[s + Math.min(k, n - 1)] >> shift;
      continue;
    }
    let r = src[s] >> shift;
    let g = colour ? src[s + 1] >> shift : r;
    let b = colour ? src[s + 2] >> shift : r;
    const a = srcAlpha ? src[s + n - 1] >> shift : 255;
    if (transparent && a === 0) [r, g, b] = transparent;
    if (c === 1) out[d] = r;
    else if (c === 2) {
      out[d] = r;
      out[d + 1] = a;
    } else {
      out[d] = r;
      out[d + 1] = g;
      out[d + 2] = b;
      if (c === 4) out[d + 3] = a;
    }
  }
  return { mode, width, height, channels: c, data: out };
}

// ---------------------------------------------------------------------------------------------
// Geometry (torchvision)

/** torchvision Resize(int): the shorter side becomes `size`, the other int(size * long / short). */
export function resizedSize(width: number, height: number, size: number): [number, number] {
  if (width <= height) return [size, Math.trunc(size * height / width)];
  return [Math.trunc(size * width / height), size];
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x), d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision CenterCrop offsets: [left, top]. */
export function centerCropOffsets(
  width: number,
  height: number,
  size: number,
): [number, number] {
  return [roundHalfEven((width - size) / 2), roundHalfEven((height - size) / 2)];
}

// ---------------------------------------------------------------------------------------------
// Pillow's resampling (src/libImaging/Resample.c), computed only over the crop window: every
// output pixel depends on its own coefficients alone, so this equals resize-then-crop.

const PRECISION_BITS = 32 - 8 - 2;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coeffs {
  /** Per output index: first input index, number of taps. */
  bounds: Int32Array;
  ksize: number;
  /** outSize·ksize normalised float weights. */
  k: Float64Array;
}

/** Pillow's precompute_coeffs for box (0, inSize) and the BICUBIC filter (support 2). */
function precomputeCoeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const k = new Float64Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    const o = xx * ksize;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      k[o + x] = w;
      ww += w;
    }
    if (ww !== 0) { for (let x = 0; x < xmax; x++) k[o + x] /= ww; }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { bounds, ksize, k };
}

/** normalize_coeffs_8bpc: weights to 22-bit fixed point, rounding half away from zero. */
function fixedCoeffs(c: Coeffs): Int32Array {
  const out = new Int32Array(c.k.length);
  const one = 1 << PRECISION_BITS;
  for (let i = 0; i < c.k.length; i++) {
    const w = c.k[i];
    out[i] = w < 0 ? Math.trunc(-0.5 + w * one) : Math.trunc(0.5 + w * one);
  }
  return out;
}

type Pixels = Uint8Array | Uint16Array;

/** One separable pass in Pillow's arithmetic, for 8-bit (fixed point) or "I;16" (float). */
interface Arith {
  wide: boolean;
  alloc(n: number): Pixels;
  weights(c: Coeffs): Int32Array | Float64Array;
}
const ARITH8: Arith = {
  wide: false,
  alloc: (n) => new Uint8Array(n),
  weights: fixedCoeffs,
};
const ARITH16: Arith = {
  wide: true,
  alloc: (n) => new Uint16Array(n),
  weights: (c) => c.k,
};

/** Pillow's 8bpc clip8: arithmetic shift then clamp. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Pillow's 16bpc store: ROUND_UP to int, then bytes CLIP8(v % 256) and CLIP8(v >> 8). */
function store16(ss: number): number {
  const v = Math.trunc(ss >= 0 ? ss + 0.5 : ss - 0.5);
  const lo = v % 256, hi = v >> 8;
  return (hi < 0 ? 0 : hi > 255 ? 255 : hi) * 256 + (lo < 0 ? 0 : lo);
}

/**
 * Resample along x: rows [0, rows) of `src` (width srcW, C channels, whose column 0 is input
 * column colBase) to output columns [x0, x0 + nx) of the full resize.
 */
function passX(
  src: Pixels,
  srcW: number,
  rows: number,
  C: number,
  co: Coeffs,
  w: Int32Array | Float64Array,
  colBase: number,
  x0: number,
  nx: number,
  ar: Arith,
): Pixels {
  if (ar.wide) {
    return passX16(src as Uint16Array, srcW, rows, co, w as Float64Array, colBase, x0, nx);
  }
  return passX8(src as Uint8Array, srcW, rows, C, co, w as Int32Array, colBase, x0, nx);
}

function passX8(
  src: Uint8Array,
  srcW: number,
  rows: number,
  C: number,
  co: Coeffs,
  w: Int32Array,
  colBase: number,
  x0: number,
  nx: number,
): Uint8Array {
  const out = new Uint8Array(rows * nx * C);
  const { bounds, ksize } = co;
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < rows; y++) {
    const rowIn = y * srcW * C;
    let o = y * nx * C;
    for (let i = 0; i < nx; i++) {
      const xx = x0 + i;
      const n = bounds[2 * xx + 1], ko = xx * ksize;
      let p = rowIn + (bounds[2 * xx] - colBase) * C;
      let s0 = half, s1 = half, s2 = half, s3 = half;
      if (C === 3) {
        for (let x = 0; x < n; x++, p += 3) {
          const kw = w[ko + x];
          s0 += src[p] * kw;
          s1 += src[p + 1] * kw;
          s2 += src[p + 2] * kw;
        }
      } else if (C === 1) {
        for (let x = 0; x < n; x++) s0 += src[p + x] * w[ko + x];
      } else {
        for (let x = 0; x < n; x++, p += C) {
          const kw = w[ko + x];
          s0 += src[p] * kw;
          s1 += src[p + 1] * kw;
          if (C === 4) {
            s2 += src[p + 2] * kw;
            s3 += src[p + 3] * kw;
          }
        }
      }
      out[o++] = clip8(s0);
      if (C === 1) continue;
      if (C === 2) {
        out[o++] = clip8(s1);
        continue;
      }
      out[o++] = clip8(s1);
      out[o++] = clip8(s2);
      if (C === 4) out[o++] = clip8(s3);
    }
  }
  return out;
}

/** passX for "I;16" (one channel, float weights, Pillow's 16bpc store). */
function passX16(
  src: Uint16Array,
  srcW: number,
  rows: number,
  co: Coeffs,
  w: Float64Array,
  colBase: number,
  x0: number,
  nx: number,
): Pixels {
  const out = new Uint16Array(rows * nx);
  const { bounds, ksize } = co;
  for (let y = 0; y < rows; y++) {
    for (let i = 0; i < nx; i++) {
      const xx = x0 + i;
      const n = bounds[2 * xx + 1], ko = xx * ksize, p = y * srcW + bounds[2 * xx] - colBase;
      let ss = 0;
      for (let x = 0; x < n; x++) ss += src[p + x] * w[ko + x];
      out[y * nx + i] = store16(ss);
    }
  }
  return out;
}

/**
 * Resample along y: `src` (width srcW, C channels, whose row 0 is input row rowBase) to output
 * rows [y0, y0 + ny) of the full resize, for src columns [c0, c0 + nc).
 */
function passY(
  src: Pixels,
  srcW: number,
  C: number,
  co: Coeffs,
  w: Int32Array | Float64Array,
  rowBase: number,
  y0: number,
  ny: number,
  c0: number,
  nc: number,
  ar: Arith,
): Pixels {
  return ar.wide
    ? passY16(src as Uint16Array, srcW, co, w as Float64Array, rowBase, y0, ny, c0, nc)
    : passY8(src as Uint8Array, srcW, C, co, w as Int32Array, rowBase, y0, ny, c0, nc);
}

function passY8(
  src: Uint8Array,
  srcW: number,
  C: number,
  co: Coeffs,
  w: Int32Array,
  rowBase: number,
  y0: number,
  ny: number,
  c0: number,
  nc: number,
): Uint8Array {
  const out = new Uint8Array(ny * nc * C);
  const { bounds, ksize } = co;
  const stride = srcW * C, ncC = nc * C;
  const acc = new Int32Array(ncC); // |sums| < 2^31, as in Pillow's int accumulators
  for (let j = 0; j < ny; j++) {
    const yy = y0 + j;
    const ymin = bounds[2 * yy] - rowBase, n = bounds[2 * yy + 1], ko = yy * ksize;
    acc.fill(1 << (PRECISION_BITS - 1));
    for (let y = 0; y < n; y++) {
      const kw = w[ko + y], p = (ymin + y) * stride + c0 * C;
      for (let i = 0; i < ncC; i++) acc[i] += src[p + i] * kw;
    }
    const o = j * ncC;
    for (let i = 0; i < ncC; i++) out[o + i] = clip8(acc[i]);
  }
  return out;
}

function passY16(
  src: Uint16Array,
  srcW: number,
  co: Coeffs,
  w: Float64Array,
  rowBase: number,
  y0: number,
  ny: number,
  c0: number,
  nc: number,
): Uint16Array {
  const out = new Uint16Array(ny * nc);
  const { bounds, ksize } = co;
  for (let j = 0; j < ny; j++) {
    const yy = y0 + j;
    const ymin = bounds[2 * yy] - rowBase, n = bounds[2 * yy + 1], ko = yy * ksize;
    for (let i = 0; i < nc; i++) {
      let ss = 0;
      for (let y = 0; y < n; y++) ss += src[(ymin + y) * srcW + c0 + i] * w[ko + y];
      out[j * nc + i] = store16(ss);
    }
  }
  return out;
}

/** Input index range [lo, hi) read by output indices [o0, o0 + n). */
function span(co: Coeffs, o0: number, n: number): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let o = o0; o < o0 + n; o++) {
    lo = Math.min(lo, co.bounds[2 * o]);
    hi = Math.max(hi, co.bounds[2 * o] + co.bounds[2 * o + 1]);
  }
  return [lo, hi];
}

/**
 * Bicubic resize of (w, h) to (outW, outH) as Pillow does it, returning only the window
 * [x0, x0 + cw) × [y0, y0 + ch) of the result (interleaved, C channels).
 */
function resampleWindow(
  src: Pixels,
  w: number,
  h: number,
  C: number,
  outW: number,
  outH: number,
  x0: number,
  y0: number,
  cw: number,
  ch: number,
  ar: Arith,
): Pixels {
  const needH = outW !== w, needV = outH !== h;
  const hc = needH ? precomputeCoeffs(w, outW) : null;
  const vc = needV ? precomputeCoeffs(h, outH) : null;
  const hw = hc ? ar.weights(hc) : null, vw = vc ? ar.weights(vc) : null;
  const rowsOf = (img: Pixels, width: number, r0: number, nr: number, c0: number, nc: number) => {
    const out = ar.alloc(nr * nc * C);
    for (let y = 0; y < nr; y++) {
      const s = ((r0 + y) * width + c0) * C;
      out.set(img.subarray(s, s + nc * C), y * nc * C);
    }
    return out;
  };
  if (!hc && !vc) return rowsOf(src, w, y0, ch, x0, cw);
  if (!vc) return passX(rowsOf(src, w, y0, ch, 0, w), w, ch, C, hc!, hw!, 0, x0, cw, ar);
  if (!hc) return passY(src, w, C, vc, vw!, 0, y0, ch, x0, cw, ar);
  // Pillow >= 12: images more than 100 times taller than wide (and shrinking vertically) are
  // resized vertically first.
  if (h > w * 100 && outH < h) {
    const [c0, c1] = span(hc, x0, cw);
    const tmp = passY(src, w, C, vc, vw!, 0, y0, ch, c0, c1 - c0, ar);
    return passX(tmp, c1 - c0, ch, C, hc, hw!, c0, x0, cw, ar);
  }
  const [r0, r1] = span(vc, y0, ch);
  const rows = src.subarray(r0 * w * C, r1 * w * C);
  const tmp = passX(rows, w, r1 - r0, C, hc, hw!, 0, x0, cw, ar);
  return passY(tmp, cw, C, vc, vw!, r0, y0, ch, 0, cw, ar);
}

/** Pillow's NEAREST resize (ImagingScaleAffine), window only: used for "P" and "1". */
function nearestWindow(
  src: Uint8Array,
  w: number,
  h: number,
  C: number,
  outW: number,
  outH: number,
  x0: number,
  y0: number,
  cw: number,
  ch: number,
): Uint8Array {
  const tab = (inSize: number, outSize: number, upto: number) => {
    const a = inSize / outSize, t = new Int32Array(upto);
    let o = a * 0.5;
    for (let i = 0; i < upto; i++) {
      const v = o < 0 ? -1 : Math.trunc(o);
      t[i] = v < inSize ? v : -1;
      o += a;
    }
    return t;
  };
  const xs = tab(w, outW, x0 + cw), ys = tab(h, outH, y0 + ch);
  const out = new Uint8Array(cw * ch * C); // out-of-range samples stay 0, as Pillow fills
  for (let j = 0; j < ch; j++) {
    const yi = ys[y0 + j];
    if (yi < 0) continue;
    for (let i = 0; i < cw; i++) {
      const xi = xs[x0 + i];
      if (xi < 0) continue;
      const s = (yi * w + xi) * C, d = (j * cw + i) * C;
      for (let c = 0; c < C; c++) out[d + c] = src[s + c];
    }
  }
  return out;
}

/** Pillow's MULDIV255(a, b): round(a·b / 255) in integers. */
function muldiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

/** RGBA -> RGBa (or LA -> La): premultiply the colour samples, in place on a copy. */
function premultiply(src: Uint8Array, C: number): Uint8Array {
  const out = src.slice();
  for (let p = 0; p < out.length; p += C) {
    const a = out[p + C - 1];
    for (let c = 0; c < C - 1; c++) out[p + c] = muldiv255(out[p + c], a);
  }
  return out;
}

/** RGBa -> RGBA (La -> LA): undo premultiplication with Pillow's integer division. */
function unpremultiply(px: Uint8Array, C: number): void {
  for (let p = 0; p < px.length; p += C) {
    const a = px[p + C - 1];
    if (a === 255 || a === 0) continue;
    for (let c = 0; c < C - 1; c++) px[p + c] = Math.min(255, Math.trunc((255 * px[p + c]) / a));
  }
}

/** Float32 LUTs: ((v / 255) - mean) / std, each step rounded to float32 like torch. */
function makeNormLut(stats: PixelStats): Float32Array[] {
  return [0, 1, 2].map((c) => {
    const lut = new Float32Array(256);
    const m = Math.fround(stats.mean[c]), s = Math.fround(stats.std[c]);
    for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(v / 255) - m) / s;
    return lut;
  });
}

/** CLIP's LUTs, and those of other stats by their values (a few models' worth, then reset). */
const NORM_LUT = makeNormLut(CLIP_PIXEL_STATS);
const NORM_LUTS = new Map<string, Float32Array[]>();

/** The normalisation LUTs of `stats` (checked; CLIP's when undefined), made once per values. */
function normLut(stats: PixelStats | undefined): Float32Array[] {
  if (stats === undefined || stats === CLIP_PIXEL_STATS) return NORM_LUT;
  const s = checkPixelStats(stats, "stats");
  const key = `${s.mean.join(",")}/${s.std.join(",")}`;
  let luts = NORM_LUTS.get(key);
  if (!luts) {
    luts = makeNormLut(s);
    if (NORM_LUTS.size >= 16) NORM_LUTS.clear();
    NORM_LUTS.set(key, luts);
  }
  return luts;
}

/** ToTensor alone: v / 255 in float32, the same for every channel. */
const UNIT_LUT = Array.from({ length: 3 }, () => {
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.fround(v / 255);
  return lut;
});

/**
 * Resize + crop + convert("RGB") + ToTensor + Normalize of decoded pixels: CHW [3, size, size]
 * (without Normalize when `normalize` is false; with `stats`' mean/std, CLIP's by default).
 */
export function transformDecoded(
  img: DecodedImage,
  size = 224,
  normalize = true,
  stats?: PixelStats,
): Float32Array {
  return transformWith(img, size, normalize ? normLut(stats) : UNIT_LUT);
}

/** transformDecoded with the per-channel LUTs from uint8 to float32 given. */
function transformWith(img: DecodedImage, size: number, luts: Float32Array[]): Float32Array {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`bad size ${size}`);
  const { mode, width: w, height: h, channels: C } = img;
  if (w < 1 || h < 1) throw new Error(`empty image (${w}x${h})`);
  const [outW, outH] = resizedSize(w, h, size);
  const [x0, y0] = centerCropOffsets(outW, outH, size);
  if (x0 < 0 || y0 < 0) throw new Error(`resized image ${outW}x${outH} is smaller than ${size}`);
  const same = outW === w && outH === h; // Pillow returns a copy: no premultiply round trip

  let win: Pixels;
  if (mode === "P" || mode === "1") {
    win = nearestWindow(img.data as Uint8Array, w, h, C, outW, outH, x0, y0, size, size);
  } else if (mode === "I;16") {
    win = resampleWindow(img.data, w, h, 1, outW, outH, x0, y0, size, size, ARITH16);
  } else if ((mode === "RGBA" || mode === "LA") && !same) {
    const pre = premultiply(img.data as Uint8Array, C);
    win = resampleWindow(pre, w, h, C, outW, outH, x0, y0, size, size, ARITH8);
    unpremultiply(win as Uint8Array, C);
  } else {
    win = resampleWindow(img.data, w, h, C, outW, outH, x0, y0, size, size, ARITH8);
  }

  // convert("RGB") straight into the normalised CHW planes.
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  const [l0, l1, l2] = luts;
  for (let i = 0; i < plane; i++) {
    const p = i * C;
    let r: number, g: number, b: number;
    if (mode === "I;16") {
      r = g = b = win[i] > 255 ? 255 : win[i];
    } else if (C <= 2) {
      r = g = b = win[p]; // "1", "L", "LA": replicate; alpha dropped
    } else if (mode === "CMYK") {
      const nk = 255 - win[p + 3];
      r = nk - muldiv255(win[p], nk);
      g = nk - muldiv255(win[p + 1], nk);
      b = nk - muldiv255(win[p + 2], nk);
    } else {
      r = win[p];
      g = win[p + 1];
      b = win[p + 2]; // "RGBA": alpha dropped
    }
    out[i] = l0[r];
    out[plane + i] = l1[g];
    out[2 * plane + i] = l2[b];
  }
  return out;
}
