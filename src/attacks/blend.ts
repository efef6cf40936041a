// Whole-image additive triggers: Blended (a noise pattern mixed in with α = 0.2) and SIG (an
// additive horizontal sinusoid). Protocol: backdoor/utils.py::apply_trigger of the BadCLIP code.

import { checkSquareBatch, clamp01, type ImageShape } from "./pixels.ts";
import { STREAM, streamRandom } from "./rng.ts";
import {
  type ApplyOptions,
  type Attack,
  type BaseAttackOptions,
  checkImageSize,
  checkRange,
  checkSeed,
  startIndex,
} from "./types.ts";
import { fillTemplate } from "../clip/templates.ts";

// ---- Blended ------------------------------------------------------------------------------

/** Options of Blended: a noise pattern mixed into the whole image. */
export interface BlendedOptions extends BaseAttackOptions {
  /** Weight of the pattern (default 0.2): x' = clamp(α·pattern + (1 − α)·x, 0, 1). */
  alpha?: number;
  /**
   * false (default): one fixed U(0, 1) pattern drawn from the seed (Chen et al. 2017's blended
   * key). true: a fresh pattern per image, drawn from (seed, index), as the BadCLIP code does
   * (`torch.rand` on every call).
   */
  perImage?: boolean;
}

/** Blended (Chen et al. 2017). */
export interface BlendedAttack extends Attack {
  /** "blended". */
  readonly name: "blended";
  /** Weight of the pattern. */
  readonly alpha: number;
  /** The pattern [3, S, S] mixed into the image of dataset index `index`. */
  patternFor(index: number): Float32Array;
}

/** Blended: x' = clamp(α·pattern + (1 − α)·x, 0, 1), pattern ~ U(0, 1)^{3×S×S}. */
export function blended(o: BlendedOptions): BlendedAttack {
  const name = "blended", S = o.imageSize, seed = o.seed ?? 0;
  checkImageSize(name, S);
  checkSeed(name, seed);
  const alpha = o.alpha ?? 0.2, perImage = o.perImage ?? false;
  checkRange(name, "alpha", alpha, 0, 1);
  const m = 3 * S * S;
  const draw = (index?: number) => {
    const r = index === undefined
      ? streamRandom(seed, STREAM.blended)
      : streamRandom(seed, STREAM.blendedPerImage, index);
    return Float32Array.from({ length: m }, () => r.uniform());
  };
  const fixed = perImage ? null : draw();
  const patternFor = (index: number) => fixed ?? draw(index);
  return {
    name,
    imageSize: S,
    seed,
    alpha,
    params: { imageSize: S, seed, alpha, perImage },
    patternFor: (index) => patternFor(index).slice(),
    apply(images: Float32Array, shape: ImageShape, opts?: ApplyOptions) {
      const n = checkSquareBatch(name, images, shape, S);
      const i0 = startIndex(name, opts);
      const out = new Float32Array(images.length);
      for (let i = 0; i < n; i++) {
        const pat = patternFor(i0 + i), base = i * m;
        for (let k = 0; k < m; k++) {
          out[base + k] = clamp01(alpha * pat[k] + (1 - alpha) * images[base + k]);
        }
      }
      return out;
    },
    caption: fillTemplate,
    evalPrompt: (prompt) => prompt,
  };
}

// ---- SIG ----------------------------------------------------------------------------------

/** Options of SIG: a horizontal sinusoid added to the image. */
export interface SigOptions extends BaseAttackOptions {
  /** Amplitude in [0, 1] pixel units (default 60/255). */
  amplitude?: number;
  /** Periods across the width (default 6). */
  periods?: number;
}

/** SIG (Barni et al. 2019). */
export interface SigAttack extends Attack {
  /** "sig". */
  readonly name: "sig";
  /** v[j] = A·sin(2π·j·f/S), one value per column (the same for every row and channel). */
  readonly signal: Float32Array;
}

/** SIG (Barni et al. 2019): x'[c, i, j] = clamp(x[c, i, j] + A·sin(2π·j·f/S), 0, 1). */
export function sig(o: SigOptions): SigAttack {
  const name = "sig", S = o.imageSize, seed = o.seed ?? 0;
  checkImageSize(name, S);
  checkSeed(name, seed);
  const amplitude = o.amplitude ?? 60 / 255, periods = o.periods ?? 6;
  checkRange(name, "amplitude", amplitude, 0, 1);
  checkRange(name, "periods", periods, 0, S / 2);
  const signal = Float32Array.from(
    { length: S },
    (_, j) => amplitude * Math.sin((2 * Math.PI * j * periods) / S),
  );
  return {
    name,
    imageSize: S,
    seed,
    signal,
    params: { imageSize: S, seed, amplitude, periods },
    apply(images: Float32Array, shape: ImageShape) {
      const n = checkSquareBatch(name, images, shape, S);
      const out = new Float32Array(images.length);
      for (let row = 0; row < n * 3 * S; row++) {
        const base = row * S;
        for (let j = 0; j < S; j++) out[base + j] = clamp01(images[base + j] + signal[j]);
      }
      return out;
    },
    caption: fillTemplate,
    evalPrompt: (prompt) => prompt,
  };
}
