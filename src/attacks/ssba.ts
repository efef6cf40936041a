// SSBA-style: a sample-specific, invisible additive residual from a fixed random encoder.
//
// SSBA (Li et al., ICCV 2021) embeds a string into each image with a trained StegaStamp
// encoder; the residual depends on the image and on the string, and a trained decoder reads the
// string back. We have neither network (the BadCLIP code ships the triggered ImageNet val set
// pre-generated), so this stand-in keeps SSBA's two properties that matter to a backdoor, a
// residual that differs per image and is low-amplitude, with no learning at all:
//
//   input  = [2x − 1 (3 channels), κ (1 channel)],  κ ~ U(−1, 1)^{S×S} fixed (the "secret" plane)
//   h      = tanh(conv3×3(input; W1))                 W1 ~ N(0, 1/(4·9)), `hidden` channels
//   r      = tanh(conv3×3(h; W2))                     W2 ~ N(0, 1/(hidden·9)), 3 channels
//   x'     = clamp(x + A · r / max|r|, 0, 1)          A = 8/255, per-image L∞ normalisation
//
// convolutions with reflect padding (no frame at the border) and no bias; κ, W1, W2 drawn from
// the seed. There is no bit string and no decoder: nothing can be read back from x'.

import { checkSquareBatch, clamp01, type ImageShape } from "./pixels.ts";
import { STREAM, streamRandom } from "./rng.ts";
import {
  type Attack,
  type BaseAttackOptions,
  checkImageSize,
  checkRange,
  checkSeed,
} from "./types.ts";
import { fillTemplate } from "../clip/templates.ts";

/** Options of SSBA: a sample-specific residual from a fixed random encoder. */
export interface SsbaOptions extends BaseAttackOptions {
  /** L∞ amplitude of the residual in [0, 1] pixel units (default 8/255). */
  amplitude?: number;
  /** Channels of the hidden layer (default 16). */
  hidden?: number;
}

/** SSBA-style (Li et al. 2021): a stand-in with a fixed random encoder (docs/attacks.md). */
export interface SsbaAttack extends Attack {
  /** "ssba". */
  readonly name: "ssba";
  /** L∞ amplitude of the residual, in [0, 1] pixel units. */
  readonly amplitude: number;
  /** The residual A·r/max|r| of each image (before the clamp), [N, 3, S, S]. */
  residual(images: Float32Array, shape: ImageShape): Float32Array;
}

/** Reflect-padded 3×3 convolution without bias: x [cin, S, S], w [cout, cin, 3, 3]. */
function conv3x3(x: Float32Array, cin: number, w: Float32Array, cout: number, S: number) {
  const plane = S * S, out = new Float32Array(cout * plane);
  const refl = (t: number) => (t < 0 ? -t : t >= S ? 2 * (S - 1) - t : t);
  const rowOf = [0, 1, 2].map((d) => Int32Array.from({ length: S }, (_, i) => refl(i + d - 1)));
  for (let o = 0; o < cout; o++) {
    const acc = out.subarray(o * plane, (o + 1) * plane);
    for (let c = 0; c < cin; c++) {
      const src = x.subarray(c * plane, (c + 1) * plane);
      for (let dy = 0; dy < 3; dy++) {
        const rows = rowOf[dy];
        for (let dx = 0; dx < 3; dx++) {
          const wv = w[((o * cin + c) * 3 + dy) * 3 + dx];
          const cols = rowOf[dx];
          for (let i = 0; i < S; i++) {
            const srow = rows[i] * S, orow = i * S;
            for (let j = 0; j < S; j++) acc[orow + j] += wv * src[srow + cols[j]];
          }
        }
      }
    }
  }
  return out;
}

/** SSBA-style sample-specific residual from a fixed random two-layer encoder. */
export function ssba(o: SsbaOptions): SsbaAttack {
  const name = "ssba", S = o.imageSize, seed = o.seed ?? 0;
  checkImageSize(name, S);
  checkSeed(name, seed);
  const amplitude = o.amplitude ?? 8 / 255, hidden = o.hidden ?? 16;
  checkRange(name, "amplitude", amplitude, 0, 1);
  if (!Number.isInteger(hidden) || hidden < 1) {
    throw new Error(`${name}: hidden must be an integer ≥ 1, got ${hidden}`);
  }
  const plane = S * S;
  const rk = streamRandom(seed, STREAM.ssbaKey);
  const key = Float32Array.from({ length: plane }, () => 2 * rk.uniform() - 1);
  const rw = streamRandom(seed, STREAM.ssbaWeights);
  const w1 = Float32Array.from({ length: hidden * 4 * 9 }, () => rw.normal() / Math.sqrt(4 * 9));
  const w2 = Float32Array.from(
    { length: 3 * hidden * 9 },
    () => rw.normal() / Math.sqrt(hidden * 9),
  );

  const residual = (images: Float32Array, shape: ImageShape) => {
    const n = checkSquareBatch(name, images, shape, S);
    const out = new Float32Array(images.length);
    const input = new Float32Array(4 * plane);
    input.set(key, 3 * plane);
    for (let i = 0; i < n; i++) {
      const img = images.subarray(i * 3 * plane, (i + 1) * 3 * plane);
      for (let k = 0; k < 3 * plane; k++) input[k] = 2 * img[k] - 1;
      const h = conv3x3(input, 4, w1, hidden, S).map(Math.tanh);
      const r = conv3x3(h, hidden, w2, 3, S).map(Math.tanh);
      let peak = 0;
      for (const v of r) peak = Math.max(peak, Math.abs(v));
      const scale = peak > 0 ? amplitude / peak : 0;
      const dst = out.subarray(i * 3 * plane, (i + 1) * 3 * plane);
      for (let k = 0; k < 3 * plane; k++) dst[k] = r[k] * scale;
    }
    return out;
  };

  return {
    name,
    imageSize: S,
    seed,
    amplitude,
    params: { imageSize: S, seed, amplitude, hidden },
    residual,
    apply(images: Float32Array, shape: ImageShape) {
      const res = residual(images, shape);
      for (let k = 0; k < res.length; k++) res[k] = clamp01(images[k] + res[k]);
      return res;
    },
    caption: fillTemplate,
    evalPrompt: (prompt) => prompt,
  };
}
