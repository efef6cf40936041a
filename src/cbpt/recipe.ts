// Stage 2's recipe, chosen for the model at hand from the few shots alone. A quarter of each
// class's shots is held out; each candidate weight of the backdoor loss (λ_bd) tunes prompts on
// the rest and is scored on the held-out images: clean accuracy, and the share of held-out
// non-target images that the *inverted* trigger still sends to the suspected target (the true
// trigger is never known here). The final prompts are then tuned on every shot.

import { matmul } from "../autograd/ops/index.ts";
import { noGrad, readTensors, Tensor, tidy } from "../autograd/tensor.ts";
import type { Clip } from "../clip/model.ts";
import { imageFeatures, rowArgmax } from "../clip/pixels.ts";
import { type ImageSet, subset } from "../io/images.ts";
import type { Progress } from "./progress.ts";
import { promptFeatures, type PromptTokens } from "./prompts.ts";
import { applyTrigger, type HostTrigger, type TriggerSettings } from "./trigger.ts";
import { tunePrompts, type TuneSettings } from "./tune.ts";

/**
 * The stage settings purify uses unless told otherwise (the demo's too). Stage 1's contrastive
 * trigger is aimed at the per-class search's suspect, so 60 steps of 32 images suffice where the
 * untargeted inversion ran 500 of 64. Stage 2 is the small-model recipe of docs/method.md: Adam
 * (lr 0.01) on the full few-shot set for 600 epochs, no augmented views, and the margin loss
 * (λ_3 = 2); CoOp's SGD (lr 0.002, batches of 32, 50 epochs) left ASR at 61.5 % on a Blended CLIP
 * made by other code and near 30 % on the lab's.
 */
export const PURIFY_TRIGGER: Partial<TriggerSettings> = { steps: 60, batch: 32 };
/** Stage 2's settings that purify uses over TUNE_DEFAULTS (see PURIFY_TRIGGER). */
export const PURIFY_TUNE: Partial<TuneSettings> = {
  optimizer: "adam",
  lr: 0.01,
  batch: 256,
  epochs: 600,
  views: 1,
  third: "margin",
  lambda3: 2,
};

/** λ_bd values scored on the held-out shots. */
export const LAMBDA_BD_CANDIDATES = [0.5, 1, 2];
/** Clean-accuracy loss (fraction) a candidate may cost on the held-out shots. */
export const CA_SLACK = 0.03;

/** One λ_bd tried on the held-out shots. */
export interface RecipeCandidate {
  /** The weight of the backdoor loss. */
  lambdaBd: number;
  /** Held-out clean accuracy. */
  ca: number;
  /** Held-out share of non-target images the inverted trigger sends to the suspected target. */
  asr: number;
  /** Wall-clock time of its tuning and scoring. */
  seconds: number;
}

/** What {@link chooseRecipe} chose, and why. */
export interface RecipeChoice {
  /** Stage 2's settings, with the chosen λ_bd. */
  settings: TuneSettings;
  /** Every candidate scored (none when too few shots to hold any out). */
  candidates: RecipeCandidate[];
  /** Held-out zero-shot accuracy and inverted-trigger ASR, before any tuning. */
  zeroShot: { ca: number; asr: number };
  /** Shots held out for scoring. */
  heldOut: number;
  /** One line saying why this λ_bd was chosen. */
  why: string;
}

/** Per class, every fourth shot (by position) is held out; classes with < 4 shots keep all. */
export function holdOutSplit(labels: readonly number[]): { train: number[]; held: number[] } {
  const seen = new Map<number, number[]>();
  labels.forEach((y, i) => seen.set(y, [...(seen.get(y) ?? []), i]));
  const train: number[] = [], held: number[] = [];
  for (const idx of seen.values()) {
    const k = idx.length >= 4 ? Math.floor(idx.length / 4) : 0;
    idx.forEach((i, j) => (j >= idx.length - k ? held : train).push(i));
  }
  return { train: train.sort((a, b) => a - b), held: held.sort((a, b) => a - b) };
}

/**
 * The choice rule: among candidates whose held-out CA is within CA_SLACK of zero-shot CA, the
 * lowest held-out inverted-trigger ASR, ASRs within one held-out image counting as a tie broken
 * by the higher CA; if no candidate is within the slack, the best CA − ASR.
 */
export function pickCandidate(
  candidates: readonly RecipeCandidate[],
  zeroShotCa: number,
  heldOut: number,
  /** Held-out non-target images the ASR is measured on: one of them is its resolution. */
  heldNonTarget = heldOut,
): { index: number; why: string } {
  // One held-out image of slack at least: with 40 images a point of CA is not resolvable.
  const slack = Math.max(CA_SLACK, 1 / Math.max(heldOut, 1));
  const ok = candidates.map((c, i) => [c, i] as const).filter(([c]) => c.ca >= zeroShotCa - slack);
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  if (ok.length) {
    // ASRs within one held-out image of the lowest are a tie (the difference is noise): of
    // those, the highest CA, then the first listed (the smaller λ_bd).
    const low = Math.min(...ok.map(([c]) => c.asr));
    const tied = ok.filter(([c]) => c.asr <= low + 1 / Math.max(heldNonTarget, 1) + 1e-9);
    const [best, i] = tied.reduce((a, b) => (b[0].ca > a[0].ca ? b : a));
    return {
      index: i,
      why: `λ_bd ${best.lambdaBd}: held-out inverted-trigger ASR ${pct(best.asr)} (lowest, ` +
        `within one image) and the best CA of those, ${pct(best.ca)}, within ${pct(slack)} of ` +
        `zero-shot CA (${pct(zeroShotCa)})`,
    };
  }
  const i = candidates.reduce(
    (a, c, k) => c.ca - c.asr > candidates[a].ca - candidates[a].asr ? k : a,
    0,
  );
  return {
    index: i,
    why: `λ_bd ${candidates[i].lambdaBd}: no candidate kept held-out CA within ${pct(slack)} of ` +
      `zero-shot (${pct(zeroShotCa)}); best CA − ASR (${pct(candidates[i].ca)}, ` +
      `${pct(candidates[i].asr)})`,
  };
}

/** Held-out CA and inverted-trigger ASR of class features `text` [C, E] (or zero-shot text0). */
async function score(
  text: Tensor,
  clean: Tensor,
  heldLabels: readonly number[],
  trig: Tensor,
  target: number,
): Promise<{ ca: number; asr: number }> {
  const C = text.shape[0];
  const sims = noGrad(() => [
    matmul(clean, text, { transB: true }),
    matmul(trig, text, { transB: true }),
  ]);
  const [sc, st] = await readTensors(sims); // one sync for both
  for (const t of sims) t.dispose();
  const pc = rowArgmax(sc, C), pt = rowArgmax(st, C);
  const ca = pc.filter((p, r) => p === heldLabels[r]).length / heldLabels.length;
  return { ca, asr: pt.length ? pt.filter((p) => p === target).length / pt.length : 0 };
}

/**
 * Scores each λ_bd candidate on held-out shots and returns the settings to tune with. With too
 * few shots to hold any out (< 4 a class), `base` is kept and `why` says so.
 */
export async function chooseRecipe(
  clip: Clip,
  tokens: PromptTokens,
  text0: Tensor,
  initCtx: Float32Array,
  set: ImageSet,
  labels: readonly number[],
  trigger: HostTrigger,
  target: number,
  base: TuneSettings,
  seed: number,
  progress?: Progress,
): Promise<RecipeChoice> {
  const { train, held } = holdOutSplit(labels);
  const heldNonTarget = held.filter((i) => labels[i] !== target);
  if (held.length === 0 || heldNonTarget.length === 0) {
    return {
      settings: base,
      candidates: [],
      zeroShot: { ca: NaN, asr: NaN },
      heldOut: 0,
      why: "too few shots to hold any out (4 a class needed): the default recipe",
    };
  }
  const trainSet = subset(set, train), trainLabels = train.map((i) => labels[i]);
  const heldLabels = held.map((i) => labels[i]);
  const clean = imageFeatures(clip, subset(set, held)).keep();
  const trig = imageFeatures(clip, applyTrigger(trigger, subset(set, heldNonTarget))).keep();
  try {
    const zeroShot = await score(text0, clean, heldLabels, trig, target);
    const candidates: RecipeCandidate[] = [];
    for (const lambdaBd of LAMBDA_BD_CANDIDATES) {
      const t0 = performance.now();
      const r = await tunePrompts(
        clip,
        tokens,
        text0,
        initCtx,
        trainSet,
        trainLabels,
        trigger,
        target,
        { ...base, lambdaBd },
        seed,
        {
          progress: progress &&
            ((line, done) =>
              progress(
                line.replace("stage 2 (prompts)", `stage 2 (λ_bd ${lambdaBd} held-out)`),
                done,
              )),
        },
      );
      const text = noGrad(() =>
        tidy(() =>
          promptFeatures(
            clip,
            Tensor.from(r.ctx, [tokens.shape[0], tokens.nCtx, clip.config.transformerWidth]),
            tokens,
          )
        )
      );
      try {
        const s = await score(text, clean, heldLabels, trig, target);
        candidates.push({ lambdaBd, ...s, seconds: (performance.now() - t0) / 1000 });
      } finally {
        text.dispose();
      }
    }
    const pick = pickCandidate(candidates, zeroShot.ca, held.length, heldNonTarget.length);
    return {
      settings: { ...base, lambdaBd: candidates[pick.index].lambdaBd },
      candidates,
      zeroShot,
      heldOut: held.length,
      why: pick.why,
    };
  } finally {
    clean.dispose();
    trig.dispose();
  }
}
