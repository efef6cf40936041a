// WaNet (Nguyen & Tran, ICLR 2021): a fixed, smooth, small warping field, grid-sampled.
//
// As in their code (and the BadCLIP code's `warped` branch): ins = U(−1, 1)^{2×k×k},
// ins /= mean(|ins|), noise_grid = bicubic upsample of ins to S×S (align_corners=True),
// grid = clamp(identity + s·noise_grid/S, −1, 1), x' = grid_sample(x, grid, bilinear,
// align_corners=True, zero padding). Channel 0 of the field moves the sampling point along the
// columns (grid x), channel 1 along the rows (grid y). WaNet's defaults (k = 4, s = 0.5, for
// 32×32 CIFAR-10) are ours; the BadCLIP code uses k = 224, s = 1 at 224 px.

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

/** Options of WaNet: a smooth warping field. */
export interface WanetOptions extends BaseAttackOptions {
  /** Side of the random control grid (default 4). */
  k?: number;
  /** Warping strength s (default 0.5). */
  strength?: number;
}

/** WaNet (Nguyen & Tran 2021). */
export interface WanetAttack extends Attack {
  /** "wanet". */
  readonly name: "wanet";
  /** The upsampled field noise_grid, [2, S, S] (channel 0: columns, 1: rows), before s/S. */
  readonly noiseGrid: Float32Array;
  /**
   * Where output pixel (i, j) samples, minus (i, j), in pixels, after the clamp: [2, S, S]
   * (channel 0: along columns, 1: along rows).
   */
  readonly displacement: Float32Array;
}

const A = -0.75; // PyTorch's bicubic coefficient
const cc1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
const cc2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;

function cubic(x0: number, x1: number, x2: number, x3: number, t: number): number {
  return x0 * cc2(t + 1) + x1 * cc1(t) + x2 * cc1(1 - t) + x3 * cc2(2 - t);
}

/**
 * PyTorch's upsample_bicubic2d with align_corners=True of one k×k plane to S×S (A = −0.75,
 * source indices clamped at the borders).
 */
export function bicubicUpsample(src: Float32Array, k: number, S: number): Float32Array {
  const out = new Float32Array(S * S);
  const scale = S > 1 ? (k - 1) / (S - 1) : 0;
  const at = (y: number, x: number) =>
    src[Math.min(k - 1, Math.max(0, y)) * k + Math.min(k - 1, Math.max(0, x))];
  for (let oy = 0; oy < S; oy++) {
    const ry = scale * oy, iy = Math.floor(ry), ty = ry - iy;
    for (let ox = 0; ox < S; ox++) {
      const rx = scale * ox, ix = Math.floor(rx), tx = rx - ix;
      const rows = [0, 1, 2, 3].map((m) => {
        const y = iy - 1 + m;
        return cubic(at(y, ix - 1), at(y, ix), at(y, ix + 1), at(y, ix + 2), tx);
      });
      out[oy * S + ox] = cubic(rows[0], rows[1], rows[2], rows[3], ty);
    }
  }
  return out;
}

/** WaNet's warp: a fixed field drawn from the seed, applied to every image. */
export function wanet(o: WanetOptions): WanetAttack {
  const name = "wanet", S = o.imageSize, seed = o.seed ?? 0;
  checkImageSize(name, S);
  checkSeed(name, seed);
  const k = o.k ?? 4, strength = o.strength ?? 0.5;
  if (!Number.isInteger(k) || k < 1) throw new Error(`${name}: k must be an integer ≥ 1, got ${k}`);
  checkRange(name, "strength", strength, 0, S);

  const r = streamRandom(seed, STREAM.wanet);
  const ins = Float32Array.from({ length: 2 * k * k }, () => 2 * r.uniform() - 1);
  let meanAbs = 0;
  for (const v of ins) meanAbs += Math.abs(v);
  meanAbs /= ins.length;
  for (let i = 0; i < ins.length; i++) ins[i] /= meanAbs;
  const noiseGrid = new Float32Array(2 * S * S);
  for (let c = 0; c < 2; c++) {
    noiseGrid.set(bicubicUpsample(ins.subarray(c * k * k, (c + 1) * k * k), k, S), c * S * S);
  }

  // grid = identity + s·noise/S in [−1, 1] coordinates; with align_corners=True, pixel
  // coordinate = (grid + 1)/2·(S − 1), so the sampling point is j + s·noise/S·(S − 1)/2
  // (exactly j when s = 0), and clamping the grid to [−1, 1] clamps it to [0, S − 1].
  const toPx = (strength / S) * ((S - 1) / 2);
  const sx = new Float64Array(S * S), sy = new Float64Array(S * S);
  const displacement = new Float32Array(2 * S * S);
  for (let i = 0; i < S; i++) {
    for (let j = 0; j < S; j++) {
      const q = i * S + j;
      sx[q] = Math.min(S - 1, Math.max(0, j + toPx * noiseGrid[q]));
      sy[q] = Math.min(S - 1, Math.max(0, i + toPx * noiseGrid[S * S + q]));
      displacement[q] = sx[q] - j;
      displacement[S * S + q] = sy[q] - i;
    }
  }

  return {
    name,
    imageSize: S,
    seed,
    noiseGrid,
    displacement,
    params: { imageSize: S, seed, k, strength },
    apply(images: Float32Array, shape: ImageShape) {
      const n = checkSquareBatch(name, images, shape, S);
      const out = new Float32Array(images.length);
      const plane = S * S;
      const px = (base: number, y: number, x: number) =>
        x < S && y < S ? images[base + y * S + x] : 0; // zero padding (weight 0 at the edge)
      for (let q = 0; q < plane; q++) {
        const x = sx[q], y = sy[q];
        const x0 = Math.floor(x), y0 = Math.floor(y), wx = x - x0, wy = y - y0;
        for (let ch = 0; ch < n * 3; ch++) {
          const base = ch * plane;
          const v = (1 - wy) * ((1 - wx) * px(base, y0, x0) + wx * px(base, y0, x0 + 1)) +
            wy * ((1 - wx) * px(base, y0 + 1, x0) + wx * px(base, y0 + 1, x0 + 1));
          out[base + q] = clamp01(v);
        }
      }
      return out;
    },
    caption: fillTemplate,
    evalPrompt: (prompt) => prompt,
  };
}
