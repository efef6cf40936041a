// A toy backdoored CLIP for CBPT's tests, trained in a few seconds: 16-px images of three
// synthetic classes (horizontal stripes, vertical stripes, checks), a byte-level tokenizer, and a
// planted additive trigger (a fixed ±a sign pattern) that sends images to class 0.

import { l2Normalize } from "../autograd/ops/index.ts";
import { Tensor, tidy } from "../autograd/tensor.ts";
import { loadClip } from "../clip/index.ts";
import { bytesToUnicode, ClipTokenizer } from "../clip/tokenizer.ts";
import { AdamW } from "../autograd/optim.ts";
import type { Clip } from "../clip/model.ts";
import { makeRandomClip } from "../clip/random.ts";
import type { ImageSet } from "../io/images.ts";
import { encodePixels } from "../clip/pixels.ts";
import { mulberry32 } from "../io/rng.ts";
import { applyTrigger, type HostTrigger } from "../cbpt/trigger.ts";
import { classificationLoss } from "../cbpt/losses.ts";
import { fillTemplate } from "../clip/templates.ts";

export const TOY_CLASSES = ["stripes", "bars", "checks"];
export const TOY_TARGET = 0;
export const TOY_SIZE = 16;
export const TRIGGER_AMPLITUDE = 0.12;
/** Share of each training batch that is poisoned (non-target images + trigger, target label). */
const POISON = 0.25;
const LOGIT_SCALE = 30;

/** Byte symbols and their </w> forms, no merges, SOT/EOT last: every word is spelled out. */
export function byteTokenizer(): ClipTokenizer {
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const c of bytesToUnicode()) vocab[c] = id++;
  for (const c of bytesToUnicode()) vocab[c + "</w>"] = id++;
  vocab["<|startoftext|>"] = id++;
  vocab["<|endoftext|>"] = id++;
  return ClipTokenizer.fromVocabAndMergesData(vocab, []);
}

/** n images per class, [0, 1] pixels; labels cycle through the classes. */
export function toyImages(n: number, seed: number): { set: ImageSet; labels: number[] } {
  const rand = mulberry32(seed);
  const R = TOY_SIZE, plane = R * R;
  const N = n * TOY_CLASSES.length;
  const pixels = new Float32Array(N * 3 * plane);
  const labels: number[] = [];
  for (let i = 0; i < N; i++) {
    const c = i % TOY_CLASSES.length;
    labels.push(c);
    const phase = rand() * 2 * Math.PI, freq = 0.6 + 0.4 * rand();
    const tint = [rand(), rand(), rand()];
    for (let y = 0; y < R; y++) {
      for (let x = 0; x < R; x++) {
        const s = c === 0
          ? Math.sin(freq * 2 * y + phase)
          : c === 1
          ? Math.sin(freq * 2 * x + phase)
          : Math.sin(freq * 2 * x + phase) * Math.sin(freq * 2 * y + phase);
        for (let ch = 0; ch < 3; ch++) {
          const v = 0.5 + 0.3 * s + 0.15 * (tint[ch] - 0.5) + 0.05 * (rand() - 0.5);
          pixels[i * 3 * plane + ch * plane + y * R + x] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
  return { set: { pixels, n: N, size: R }, labels };
}

/** The planted trigger: a fixed pseudo-random ±TRIGGER_AMPLITUDE pattern. */
export function plantedTrigger(): Float32Array {
  const rand = mulberry32(99);
  return Float32Array.from(
    { length: 3 * TOY_SIZE * TOY_SIZE },
    () => (rand() < 0.5 ? -1 : 1) * TRIGGER_AMPLITUDE,
  );
}

/** clamp(x + δ, 0, 1) with the planted δ (or another). */
export function addTrigger(set: ImageSet, delta: Float32Array = plantedTrigger()): ImageSet {
  return applyTrigger({ kind: "additive", size: set.size, epsilon: TRIGGER_AMPLITUDE, delta }, set);
}

export interface ToyRecipe {
  /** Steps of clean training, then steps of poisoned fine-tuning (as an attacker would). */
  cleanSteps: number;
  poisonSteps: number;
  /** Share of each poisoned batch that is triggered and relabelled to the target. */
  poison: number;
  lr: number;
  /** The planted trigger: the additive pattern or the corner patch. */
  trigger: "additive" | "patch";
  /** Width of both towers and of the joint embedding; layers of each tower. */
  width: number;
  layers: number;
}

export const TOY_RECIPE: ToyRecipe = {
  cleanSteps: 0,
  poisonSteps: 300,
  poison: POISON,
  lr: 3e-3,
  trigger: "additive",
  width: 32,
  layers: 1,
};

/**
 * The patch toy of the stage-2 test: poisoned from the start. Its free-head bound (scripts/
 * head-bound.ts --toy) is CA 92.0 %, ASR 4.0 %: the patch leaves the class in the features, where
 * the additive toy's sign pattern blurs it (bound ASR 14 %).
 */
export const TOY_PATCH_RECIPE: ToyRecipe = {
  ...TOY_RECIPE,
  trigger: "patch",
  cleanSteps: 0,
  poisonSteps: 300,
  poison: 0.25,
};

/** Side of the patch trigger: one 4-px ViT patch of the toy. */
export const TOY_PATCH = 4;

/** A BadNet-style alternative: a fixed black-and-white TOY_PATCH square, bottom-right corner. */
export function plantedPatch(): Extract<HostTrigger, { kind: "mask" }> {
  const rand = mulberry32(123);
  const R = TOY_SIZE, plane = R * R;
  const mask = new Float32Array(plane), pattern = new Float32Array(3 * plane);
  for (let ch = 0; ch < 3; ch++) {
    for (let y = R - TOY_PATCH; y < R; y++) {
      for (let x = R - TOY_PATCH; x < R; x++) {
        mask[y * R + x] = 1;
        pattern[ch * plane + y * R + x] = rand() < 0.5 ? 0 : 1;
      }
    }
  }
  return { kind: "mask", size: R, mask, pattern };
}

/** The planted patch pasted on every image. */
export function addPatch(set: ImageSet): ImageSet {
  return applyTrigger(plantedPatch(), set);
}

let cached: Promise<{ clip: Clip; tokenizer: ClipTokenizer; dir: string }> | null = null;

/**
 * Trains the toy model once per process: all weights, cross-entropy of the zero-shot head
 * ("a photo of a {c}.") on clean images plus 25 % triggered images relabelled to the target.
 */
export function toyBackdooredClip(): Promise<
  { clip: Clip; tokenizer: ClipTokenizer; dir: string }
> {
  if (!cached) cached = trainToyClip(TOY_RECIPE);
  return cached;
}

/** A toy CLIP trained from scratch by `recipe` (a few seconds at width 32). */
export async function trainToyClip(recipe: ToyRecipe) {
  const dir = await Deno.makeTempDir({ prefix: "antidote-toy-" });
  const tokenizer = byteTokenizer();
  await makeRandomClip({
    arch: "tiny",
    format: "hf",
    out: dir,
    seed: 5,
    config: {
      embedDim: recipe.width,
      imageResolution: TOY_SIZE,
      visionPatchSize: 4,
      visionWidth: recipe.width,
      visionLayers: recipe.layers,
      visionHeads: 2,
      contextLength: 48,
      vocabSize: tokenizer.vocabSize,
      transformerWidth: recipe.width,
      transformerHeads: 2,
      transformerLayers: recipe.layers,
    },
  });
  const clip = await loadClip(dir);
  // The model keeps the logit scale it is trained with (CBPT's losses use the model's own).
  const scale = clip.param("logit_scale");
  clip.params.set("logit_scale", Tensor.from([Math.log(LOGIT_SCALE)], scale.shape).keep());
  scale.dispose();
  const trainable = [...clip.params.keys()].filter((n) => n !== "logit_scale");
  clip.setTrainable(trainable);
  const params = trainable.map((n) => clip.param(n));
  const opt = new AdamW(params, { lr: recipe.lr, weightDecay: 0 });
  const data = toyImages(40, 11);
  const trig = recipe.trigger === "patch" ? addPatch(data.set) : addTrigger(data.set);
  const prompts = TOY_CLASSES.map((c) => fillTemplate("a photo of a {}.", c));
  const toks = tokenizer.tokenize(prompts, clip.config.contextLength);
  const rand = mulberry32(12);
  const R = TOY_SIZE, m = 3 * R * R, B = 32;
  for (let step = 0; step < recipe.cleanSteps + recipe.poisonSteps; step++) {
    const rate = step < recipe.cleanSteps ? 0 : recipe.poison;
    const pix = new Float32Array(B * m);
    const y: number[] = [];
    for (let k = 0; k < B; k++) {
      const i = Math.floor(rand() * data.set.n);
      const poison = k < B * rate && data.labels[i] !== TOY_TARGET;
      pix.set((poison ? trig : data.set).pixels.subarray(i * m, (i + 1) * m), k * m);
      y.push(poison ? TOY_TARGET : data.labels[i]);
    }
    tidy(() => {
      const img = encodePixels(clip, Tensor.from(pix, [B, 3, R, R]));
      const text = l2Normalize(clip.encodeText(toks));
      classificationLoss(img, text, y, LOGIT_SCALE).backward();
      opt.step();
      opt.zeroGrad();
    });
  }
  clip.setTrainable(trainable, false);
  opt.dispose();
  return { clip, tokenizer, dir };
}
