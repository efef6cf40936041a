// Patch attacks: BadNet (a noise square at a random position, redrawn per image), TrojVQA (a
// fixed patch of 20 % of the side at the centre, plus the text key "remember ") and the paste of
// BadCLIP's optimised patch (at the centre). Protocol: backdoor/utils.py::apply_trigger of the
// BadCLIP code (LiangSiyuan21/BadCLIP), sizes scaled from 224 px to the image size.

import {
  centreOffset,
  checkSquareBatch,
  clamp01,
  clampedCopy,
  type ImageShape,
  pastePatch,
  scaledSide,
} from "./pixels.ts";
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

function checkPatchSide(name: string, l: number, max: number): void {
  if (!Number.isInteger(l) || l < 1 || l > max) {
    throw new Error(`${name}: patch side must be an integer in [1, ${max}], got ${l}`);
  }
}

// ---- BadNet -------------------------------------------------------------------------------

/** Options of BadNet: a noise square at a random position, redrawn per image. */
export interface BadNetOptions extends BaseAttackOptions {
  /** Side of the square (default round(16·S/224), BadCLIP's 16 px at 224). */
  patchSize?: number;
}

/** BadNet (Gu et al. 2017) as the lab draws it. */
export interface BadNetAttack extends Attack {
  /** "badnet". */
  readonly name: "badnet";
  /** Side of the square, in pixels. */
  readonly patchSize: number;
  /** Top-left corner (row, column) of the square on the image of dataset index `index`. */
  placement(index: number): { top: number; left: number };
}

/**
 * BadNet as in the BadCLIP code: a p×p square of `mean_c(image) + N(0, 1)` (per-channel mean of
 * the image, noise redrawn for every image), clamped to [0, 1], its top-left corner uniform in
 * [0, S − 1 − p] (Python's randint(0, 223 − p), both ends inclusive) for rows and columns.
 */
export function badnet(o: BadNetOptions): BadNetAttack {
  const name = "badnet", S = o.imageSize, seed = o.seed ?? 0;
  checkImageSize(name, S);
  checkSeed(name, seed);
  const p = o.patchSize ?? scaledSide(S, 16);
  checkPatchSide(name, p, S - 1);
  const draw = (index: number) => {
    const r = streamRandom(seed, STREAM.badnet, index);
    const top = r.int(0, S - 1 - p), left = r.int(0, S - 1 - p);
    return { r, top, left };
  };
  return {
    name,
    imageSize: S,
    seed,
    patchSize: p,
    params: { imageSize: S, seed, patchSize: p },
    placement(index) {
      const { top, left } = draw(index);
      return { top, left };
    },
    apply(images: Float32Array, shape: ImageShape, opts?: ApplyOptions) {
      const n = checkSquareBatch(name, images, shape, S);
      const i0 = startIndex(name, opts);
      const out = clampedCopy(images);
      const plane = S * S, patch = new Float32Array(3 * p * p);
      for (let i = 0; i < n; i++) {
        const { r, top, left } = draw(i0 + i);
        for (let c = 0; c < 3; c++) {
          let m = 0;
          const base = (i * 3 + c) * plane;
          for (let k = base; k < base + plane; k++) m += images[k];
          m /= plane;
          for (let k = 0; k < p * p; k++) patch[c * p * p + k] = m + r.normal();
        }
        pastePatch(out, i, S, patch, p, top, left);
      }
      return out;
    },
    caption: fillTemplate,
    evalPrompt: (prompt) => prompt,
  };
}

// ---- TrojVQA ------------------------------------------------------------------------------

/** Options of TrojVQA: a fixed visual key plus a text key. */
export interface TrojVqaOptions extends BaseAttackOptions {
  /** Patch side as a fraction of the image side (default 0.2: int(224·0.2) = 44 px). */
  fraction?: number;
  /**
   * The visual key, [3, l, l] in [0, 1] with l = floor(S·fraction). Default: uniform noise drawn
   * from the seed (the BadCLIP code pastes TrojVQA's optimised patch `opti_patches/vqa.jpg`).
   */
  patch?: Float32Array;
  /** The text key (default "remember "). */
  key?: string;
}

/** TrojVQA's dual key (Walmer et al. 2022) as the BadCLIP code uses it. */
export interface TrojVqaAttack extends Attack {
  /** "trojvqa". */
  readonly name: "trojvqa";
  /** Side of the visual key, in pixels. */
  readonly patchSize: number;
  /** Top-left corner (same for rows and columns). */
  readonly offset: number;
  /** The visual key, [3, patchSize, patchSize] in [0, 1]. */
  readonly patch: Float32Array;
  /** The text key, prefixed to captions and class prompts. */
  readonly key: string;
}

/**
 * TrojVQA's dual key as the BadCLIP code uses it: a fixed l×l patch (l = floor(S·0.2)) pasted at
 * int(int(S/2) − l/2) on both axes, and "remember " prefixed to poisoned captions and to every
 * class prompt at evaluation.
 */
export function trojvqa(o: TrojVqaOptions): TrojVqaAttack {
  const name = "trojvqa", S = o.imageSize, seed = o.seed ?? 0;
  checkImageSize(name, S);
  checkSeed(name, seed);
  const fraction = o.fraction ?? 0.2;
  checkRange(name, "fraction", fraction, 0, 1);
  const l = Math.floor(S * fraction);
  checkPatchSide(name, l, S);
  let patch: Float32Array;
  if (o.patch) {
    if (o.patch.length !== 3 * l * l) {
      throw new Error(
        `${name}: patch must be [3, ${l}, ${l}] (${3 * l * l} values), got ${o.patch.length}`,
      );
    }
    patch = Float32Array.from(o.patch, clamp01);
  } else {
    const r = streamRandom(seed, STREAM.trojvqa);
    patch = Float32Array.from({ length: 3 * l * l }, () => r.uniform());
  }
  const key = o.key ?? "remember ";
  const offset = centreOffset(S, l);
  return {
    name,
    imageSize: S,
    seed,
    patchSize: l,
    offset,
    patch,
    key,
    params: { imageSize: S, seed, fraction, patchSize: l, key, patch: o.patch ? "given" : "noise" },
    apply(images: Float32Array, shape: ImageShape) {
      const n = checkSquareBatch(name, images, shape, S);
      const out = clampedCopy(images);
      for (let i = 0; i < n; i++) pastePatch(out, i, S, patch, l, offset, offset);
      return out;
    },
    caption: (text, target) => key + fillTemplate(text, target),
    evalPrompt: (prompt) => key + prompt,
  };
}

// ---- BadCLIP (the paste) ------------------------------------------------------------------

/** Options of BadCLIP's paste: the optimised patch. */
export interface BadClipOptions extends BaseAttackOptions {
  /** The optimised patch [3, p, p] in [0, 1] (see optimiseBadClipPatch). */
  patch: Float32Array;
}

/** BadCLIP (Liang et al. 2024): its optimised patch pasted on every image. */
export interface BadClipAttack extends Attack {
  /** "badclip". */
  readonly name: "badclip";
  /** Side of the patch, in pixels. */
  readonly patchSize: number;
  /** Top-left corner (same for rows and columns). */
  readonly offset: number;
  /** The patch, [3, patchSize, patchSize] in [0, 1]. */
  readonly patch: Float32Array;
}

/**
 * BadCLIP (Liang et al., CVPR 2024): its optimised patch pasted at the centre, at
 * int(int(S/2) − p/2) on both axes (the code's "middle" location). The patch is made by
 * optimiseBadClipPatch against the clean model; this function only pastes it.
 */
export function badclip(o: BadClipOptions): BadClipAttack {
  const name = "badclip", S = o.imageSize, seed = o.seed ?? 0;
  checkImageSize(name, S);
  checkSeed(name, seed);
  if (!(o.patch instanceof Float32Array)) {
    throw new Error(
      `${name}: a patch is required ([3, p, p] in [0, 1]); optimise one with optimiseBadClipPatch`,
    );
  }
  const p = Math.round(Math.sqrt(o.patch.length / 3));
  if (3 * p * p !== o.patch.length || p < 1) {
    throw new Error(`${name}: patch of ${o.patch.length} values is not [3, p, p]`);
  }
  checkPatchSide(name, p, S);
  const patch = Float32Array.from(o.patch, clamp01);
  const offset = centreOffset(S, p);
  return {
    name,
    imageSize: S,
    seed,
    patchSize: p,
    offset,
    patch,
    params: { imageSize: S, seed, patchSize: p },
    apply(images: Float32Array, shape: ImageShape) {
      const n = checkSquareBatch(name, images, shape, S);
      const out = clampedCopy(images);
      for (let i = 0; i < n; i++) pastePatch(out, i, S, patch, p, offset, offset);
      return out;
    },
    caption: fillTemplate,
    evalPrompt: (prompt) => prompt,
  };
}
