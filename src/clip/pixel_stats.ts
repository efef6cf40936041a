// The per-channel mean and std a CLIP's pixels are normalised with: the checkpoint's own (a
// Hugging Face `preprocessor_config.json`, open_clip's `preprocess_cfg`) or CLIP's constants,
// read strictly (naming the file and field). Where they are used: pixels.ts (on the GPU) and
// preprocess.ts (on the host).

import { InputFileError, preview } from "../io/strict.ts";

/** CLIP's normalisation constants (openai/CLIP `_transform`). */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
/** CLIP's per-channel standard deviations (openai/CLIP `_transform`). */
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** Three per-channel values: red, green, blue. */
export type Rgb = readonly [number, number, number];

/**
 * How a CLIP's [0, 1] pixels are normalised, (x − mean[c]) / std[c], and where those numbers
 * came from. `loadClip` reads them from the checkpoint (see `Clip.pixelStats`).
 */
export interface PixelStats {
  /** Per-channel means (red, green, blue), subtracted from [0, 1] pixels. */
  readonly mean: Rgb;
  /** Per-channel standard deviations (red, green, blue), positive; the pixels are divided by them. */
  readonly std: Rgb;
  /** The image side the checkpoint's preprocessing declares (checked against the model's). */
  readonly size?: number;
  /**
   * Where the numbers came from: a file's path (`…/preprocessor_config.json`,
   * `…/open_clip_config.json preprocess_cfg`), `options.pixelStats`, or `CLIP default`.
   */
  readonly source: string;
}

/** CLIP's own normalisation: what every checkpoint without preprocessing settings gets. */
export const CLIP_PIXEL_STATS: PixelStats = Object.freeze({
  mean: CLIP_MEAN,
  std: CLIP_STD,
  source: "CLIP default",
});

/** "[0.5, 0.5, 0.5]". */
const rgb = (v: Rgb) => `[${v.join(", ")}]`;

/** One line for the person at the terminal: which mean/std the pixels are normalised with. */
export function describePixelStats(s: PixelStats): string {
  if (s === CLIP_PIXEL_STATS) return "preprocessing: mean/std (CLIP default)";
  return `preprocessing: mean/std from ${s.source} (mean ${rgb(s.mean)}, std ${rgb(s.std)})`;
}

/** Whether two stats normalise alike (each value equal in float32, as the tensors hold them). */
export function samePixelStats(a: PixelStats, b: PixelStats): boolean {
  const f = Math.fround;
  return [0, 1, 2].every((c) => f(a.mean[c]) === f(b.mean[c]) && f(a.std[c]) === f(b.std[c]));
}

/** A per-channel triplet from a JSON value: 3 numbers, or one number for every channel. */
function triplet(
  v: unknown,
  field: string,
  source: string,
  positive: boolean,
): [number, number, number] {
  const want = positive
    ? "3 finite numbers > 0 (or one for every channel)"
    : "3 finite numbers (or one for every channel)";
  const ok = (x: unknown): x is number =>
    typeof x === "number" && Number.isFinite(x) && (!positive || Math.fround(x) > 0);
  if (ok(v)) return [v, v, v];
  if (Array.isArray(v) && v.length === 3 && v.every(ok)) return [v[0], v[1], v[2]];
  throw new InputFileError(source, `${field} is ${preview(v)}; expected ${want}`);
}

/**
 * Stats from a caller (`options.pixelStats`, a value set on `Clip.pixelStats`), checked: 3
 * finite means, 3 finite positive stds. Returns a frozen copy.
 */
export function checkPixelStats(
  s: { readonly mean?: unknown; readonly std?: unknown; readonly size?: unknown; source?: string },
  source = "pixelStats",
): PixelStats {
  if (typeof s !== "object" || s === null) {
    throw new InputFileError(source, `is ${preview(s)}; expected { mean, std }`);
  }
  const mean = triplet(s.mean, "mean", source, false);
  const std = triplet(s.std, "std", source, true);
  const size = s.size;
  if (size !== undefined && !(Number.isSafeInteger(size) && (size as number) > 0)) {
    throw new InputFileError(source, `size is ${preview(size)}; expected a positive integer`);
  }
  return Object.freeze({
    mean,
    std,
    ...(size !== undefined ? { size: size as number } : {}),
    source: typeof s.source === "string" ? s.source : source,
  });
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A JSON field, undefined when absent or null (as transformers and open_clip read them). */
const field = (o: Json, key: string): unknown => (o[key] === null ? undefined : o[key]);

/**
 * An image side as HF processors spell it: an integer, `{height, width}` (square), or
 * `{shortest_edge}`; undefined when absent.
 */
function side(o: Json, key: string, source: string): number | undefined {
  const v = field(o, key);
  if (v === undefined) return undefined;
  const int = (x: unknown) => Number.isSafeInteger(x) && (x as number) > 0;
  if (int(v)) return v as number;
  if (isObject(v)) {
    if (int(v.height) && v.height === v.width) return v.height as number;
    if (int(v.shortest_edge) && v.height === undefined && v.width === undefined) {
      return v.shortest_edge as number;
    }
  }
  throw new InputFileError(
    source,
    `${key} is ${preview(v)}; expected a positive integer, {"height": n, "width": n} (square) ` +
      `or {"shortest_edge": n}`,
  );
}

/** Refuses a declared image side other than the model's. */
function checkSide(declared: number, field: string, resolution: number, source: string): void {
  if (declared === resolution) return;
  throw new InputFileError(
    source,
    `${field} ${declared} differs from the model's image size ${resolution}; expected the ` +
      `same side (the model takes ${resolution}×${resolution} images)`,
  );
}

/** A boolean field, `dflt` when absent. */
function flag(o: Json, key: string, dflt: boolean, source: string): boolean {
  const v = field(o, key);
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") {
    throw new InputFileError(source, `${key} is ${preview(v)}; expected true or false`);
  }
  return v;
}

/**
 * PixelStats from a Hugging Face image processor's `preprocessor_config.json`
 * (CLIPImageProcessor or the older CLIPFeatureExtractor): `image_mean` and `image_std` (CLIP's
 * where absent, as CLIPImageProcessor defaults), none with `do_normalize: false`. `crop_size`
 * (else `size`) must be the model's `imageResolution`. Settings Antidote does not follow (a
 * resize larger than the crop, a resample other than bicubic) are reported to `warn`.
 */
export function pixelStatsFromHfProcessor(
  json: unknown,
  source: string,
  imageResolution: number,
  warn: (line: string) => void = () => {},
): PixelStats {
  if (!isObject(json)) {
    throw new InputFileError(source, `is ${preview(json)}; expected an image processor's object`);
  }
  if (!flag(json, "do_rescale", true, source)) {
    throw new InputFileError(
      source,
      "do_rescale is false (pixels left in 0..255); expected true: Antidote's pixels are in [0, 1]",
    );
  }
  const factor = field(json, "rescale_factor");
  if (
    factor !== undefined &&
    !(typeof factor === "number" && Math.abs(factor * 255 - 1) <= 1e-6)
  ) {
    throw new InputFileError(
      source,
      `rescale_factor is ${preview(factor)}; expected 1/255 (0.00392156862745098)`,
    );
  }
  const normalize = flag(json, "do_normalize", true, source);
  const mean = triplet(field(json, "image_mean") ?? CLIP_MEAN, "image_mean", source, false);
  const std = triplet(field(json, "image_std") ?? CLIP_STD, "image_std", source, true);
  const crop = flag(json, "do_center_crop", true, source)
    ? side(json, "crop_size", source)
    : undefined;
  const resize = side(json, "size", source);
  const size = crop ?? resize;
  if (size !== undefined) {
    checkSide(size, crop !== undefined ? "crop_size" : "size", imageResolution, source);
  }
  if (crop !== undefined && resize !== undefined && resize !== crop) {
    warn(
      `${source}: size ${resize}: this processor resizes to ${resize} before its ${crop}-pixel ` +
        `crop; Antidote resizes the shorter side to ${crop}, as openai/CLIP does, so pixels differ`,
    );
  }
  const resample = field(json, "resample");
  if (resample !== undefined && resample !== 3) {
    warn(
      `${source}: resample ${preview(resample)} is not bicubic (3); Antidote resizes ` +
        `bicubically, as openai/CLIP does`,
    );
  }
  return Object.freeze({
    mean: normalize ? mean : [0, 0, 0] as const,
    std: normalize ? std : [1, 1, 1] as const,
    ...(size !== undefined ? { size } : {}),
    source: normalize ? source : `${source} (do_normalize false)`,
  });
}

/**
 * PixelStats from open_clip's config (`open_clip_config.json`): its `preprocess_cfg`'s `mean`
 * and `std` (CLIP's where absent, as open_clip defaults), or undefined when it has no
 * `preprocess_cfg`. A `size` there must be the model's `imageResolution`; an interpolation
 * other than bicubic or a resize mode other than "shortest" is reported to `warn`.
 */
export function pixelStatsFromOpenClip(
  json: unknown,
  source: string,
  imageResolution: number,
  warn: (line: string) => void = () => {},
): PixelStats | undefined {
  const cfg = isObject(json) ? field(json, "preprocess_cfg") : undefined;
  if (cfg === undefined) return undefined;
  if (!isObject(cfg)) {
    throw new InputFileError(source, `preprocess_cfg is ${preview(cfg)}; expected an object`);
  }
  const where = (k: string) => `preprocess_cfg.${k}`;
  const mean = triplet(field(cfg, "mean") ?? CLIP_MEAN, where("mean"), source, false);
  const std = triplet(field(cfg, "std") ?? CLIP_STD, where("std"), source, true);
  let size: number | undefined;
  const raw = field(cfg, "size");
  if (raw !== undefined) {
    const pair = Array.isArray(raw) && raw.length === 2 && raw[0] === raw[1] ? raw[0] : raw;
    if (!(Number.isSafeInteger(pair) && (pair as number) > 0)) {
      throw new InputFileError(
        source,
        `${where("size")} is ${preview(raw)}; expected a positive integer or [n, n]`,
      );
    }
    size = pair as number;
    checkSide(size, where("size"), imageResolution, source);
  }
  for (const [k, want] of [["interpolation", "bicubic"], ["resize_mode", "shortest"]]) {
    const v = field(cfg, k);
    if (v !== undefined && v !== want) {
      warn(
        `${source}: ${where(k)} ${preview(v)} is not ${JSON.stringify(want)}; Antidote ` +
          `preprocesses as openai/CLIP does (bicubic, shorter side resized, centre crop)`,
      );
    }
  }
  return Object.freeze({
    mean,
    std,
    ...(size !== undefined ? { size } : {}),
    source: `${source} preprocess_cfg`,
  });
}
