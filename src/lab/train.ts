// Contrastive (CLIP) training of a small CLIP on the engine, and what goes with it: a seeded
// initial model, the symmetric InfoNCE loss, a training loop that reads the GPU back only every
// few steps, zero-shot accuracy, and writing the model in the HF layout. The pretraining script
// (scripts/pretrain.ts) uses it on clean Fashion-MNIST; the backdoor lab's poisoning fine-tunes
// reuse the same loop with poisoned batches.

import { encodePixels, predictClasses } from "../clip/pixels.ts";

import { basename, dirname, join } from "node:path";
import {
  add,
  crossEntropy,
  exp,
  gatherRows,
  l2Normalize,
  matmul,
  mul,
  transpose,
} from "../autograd/ops/index.ts";
import { AdamW, clampInPlace, cosineSchedule } from "../autograd/optim.ts";
import { noGrad, readTensors, Tensor, tidy } from "../autograd/tensor.ts";
import { initRuntime } from "../gpu/runtime.ts";
import { hfRecipes, invertRecipe, loadClipWeights } from "../clip/checkpoint.ts";
import type { ClipConfig } from "../clip/config.ts";
import { hfConfigJson } from "../clip/config_json.ts";
import { Clip, trimTokens } from "../clip/model.ts";

import { type TensorSpec, writeSafetensors } from "../io/safetensors.ts";
import { writeAtomic } from "../io/files.ts";
import type { ClipTokenizer } from "../clip/tokenizer.ts";
import { fillTemplate } from "../clip/templates.ts";
import { zeroShotClassifier } from "../clip/zeroshot.ts";
import { makeRandomClip } from "../clip/random.ts";
import { shuffleInPlace } from "../io/rng.ts";

/** ln 100: CLIP clamps its learned logit scale (temperature) at 100. */
export const MAX_LOGIT_SCALE = Math.log(100);

/**
 * The lab's architecture: a ViT-8/32 image tower (16 patches + CLS) 64 wide, 3 layers, 2 heads;
 * a causal text tower 64 wide, 2 layers, 4 heads, 32 tokens; a 64-d joint space; quick_gelu.
 * `vocabSize` comes from the tokenizer.
 */
export function labConfig(vocabSize: number, over: Partial<ClipConfig> = {}): ClipConfig {
  return {
    visionKind: "vit",
    embedDim: 64,
    imageResolution: 32,
    visionLayers: 3,
    visionWidth: 64,
    visionPatchSize: 8,
    visionHeads: 2,
    contextLength: 32,
    vocabSize,
    transformerWidth: 64,
    transformerHeads: 4,
    transformerLayers: 2,
    activation: "quick_gelu",
    layerNormEps: 1e-5,
    ...over,
  };
}

/**
 * A randomly initialised CLIP of `config` (src/clip/random.ts.s initialisation, seeded),
 * on the GPU, every weight trainable.
 */
export async function initClip(config: ClipConfig, seed: number): Promise<Clip> {
  const dir = await Deno.makeTempDir({ prefix: "antidote-lab-init-" });
  try {
    await makeRandomClip({ arch: "tiny", format: "hf", out: dir, seed, config });
    const w = await loadClipWeights(dir);
    await initRuntime();
    const clip = Clip.fromWeights(w);
    clip.setTrainable(clip.params.keys());
    return clip;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Indices 0..n-1 in epochs: each call returns the next index of a seeded permutation, drawn anew
 * (from `rand`) whenever one is used up.
 */
export function epochIndices(n: number, rand: () => number): () => number {
  let perm: number[] = [], at = 0;
  return () => {
    if (at === perm.length) {
      perm = shuffleInPlace(Array.from({ length: n }, (_, i) => i), rand);
      at = 0;
    }
    return perm[at++];
  };
}

/** One training batch: pixel-space images and one caption per image. */
export interface CaptionBatch {
  /** [n, channels, R, R] in [0, 1]; channels 1 (grey, broadcast to RGB) or 3. */
  pixels01: Float32Array;
  channels: 1 | 3;
  captions: readonly string[];
}

/**
 * CLIP's loss on a batch: (CE(logits_per_image, i) + CE(logits_per_text, i)) / 2 with
 * logits = exp(logit_scale) · n(image) · n(text)ᵀ. The text tower runs once per distinct
 * caption (a batch of 256 drawn from a few dozen captions repeats them); gathering the rows
 * back gives the same loss and gradients as encoding every caption.
 */
export function contrastiveLoss(clip: Clip, tokenizer: ClipTokenizer, batch: CaptionBatch): Tensor {
  const n = batch.captions.length, R = clip.config.imageResolution;
  const x = Tensor.from(batch.pixels01, [n, batch.channels, R, R]);
  const img = encodePixels(clip, x);
  const unique = [...new Set(batch.captions)];
  const row = new Map(unique.map((c, i) => [c, i]));
  const toks = trimTokens(tokenizer.tokenize(unique, clip.config.contextLength));
  const text = gatherRows(
    l2Normalize(clip.encodeText(toks)),
    batch.captions.map((c) => row.get(c)!),
  );
  const logits = mul(matmul(img, text, { transB: true }), exp(clip.param("logit_scale")));
  const diag = Array.from({ length: n }, (_, i) => i);
  return mul(add(crossEntropy(logits, diag), crossEntropy(transpose(logits), diag)), 0.5);
}

export interface TrainOptions {
  steps: number;
  /** Batch `step` (0-based); called once per step, in order. */
  batch: (step: number) => CaptionBatch;
  lr?: number;
  /** Linear warm-up steps before the cosine decay (default 5 % of the steps). */
  warmupSteps?: number;
  /** AdamW's decoupled weight decay on matrices and embeddings (not gains, biases, scale). */
  weightDecay?: number;
  /** Read the loss back (one GPU sync) every this many steps. */
  logEvery?: number;
  onLog?: (e: TrainLogEntry) => void;
  /** Parameters to train (default: all of the model's trainable ones). */
  params?: readonly string[];
}

export interface TrainLogEntry {
  step: number;
  steps: number;
  /** Mean loss over the steps since the previous entry. */
  loss: number;
  lr: number;
  logitScale: number;
  seconds: number;
}

export interface TrainResult {
  log: TrainLogEntry[];
  seconds: number;
  finalLoss: number;
}

/**
 * AdamW (β = 0.9, 0.98, ε = 1e-6 as CLIP) with warm-up + cosine, on the contrastive loss;
 * logit_scale is clamped at ln 100 after each step. The loss is summed on the GPU and read
 * every `logEvery` steps.
 */
export async function trainContrastive(
  clip: Clip,
  tokenizer: ClipTokenizer,
  o: TrainOptions,
): Promise<TrainResult> {
  const names = o.params ?? [...clip.params].filter(([, t]) => t.requiresGrad).map(([n]) => n);
  const decay = names.filter((n) => clip.param(n).rank >= 2).map((n) => clip.param(n));
  const rest = names.filter((n) => clip.param(n).rank < 2).map((n) => clip.param(n));
  const lr = o.lr ?? 2e-3;
  const adam = { betas: [0.9, 0.98] as [number, number], eps: 1e-6 };
  const opts = [
    new AdamW(decay, { lr, weightDecay: o.weightDecay ?? 0.1, ...adam }),
    new AdamW(rest, { lr, weightDecay: 0, ...adam }),
  ];
  const schedule = cosineSchedule({
    baseLr: lr,
    totalSteps: o.steps,
    warmupSteps: o.warmupSteps ?? Math.max(1, Math.round(0.05 * o.steps)),
  });
  const scale = clip.param("logit_scale");
  const logEvery = Math.max(1, o.logEvery ?? 20);
  const log: TrainLogEntry[] = [];
  const t0 = performance.now();
  let lossSum: Tensor | null = null, since = 0;
  try {
    for (let step = 0; step < o.steps; step++) {
      const rate = schedule(step);
      for (const opt of opts) opt.lr = rate;
      const batch = o.batch(step);
      const prev: Tensor | null = lossSum;
      lossSum = tidy(() => {
        const loss = contrastiveLoss(clip, tokenizer, batch);
        loss.backward();
        for (const opt of opts) opt.step();
        for (const opt of opts) opt.zeroGrad();
        clampInPlace(scale, 0, MAX_LOGIT_SCALE);
        return noGrad(() => (prev ? add(prev, loss) : mul(loss, 1)));
      }).keep();
      prev?.dispose();
      since++;
      if (since === logEvery || step === o.steps - 1) {
        const [sum, s] = await readTensors([lossSum, scale]);
        const e: TrainLogEntry = {
          step: step + 1,
          steps: o.steps,
          loss: sum[0] / since,
          lr: rate,
          logitScale: Math.exp(s[0]),
          seconds: (performance.now() - t0) / 1000,
        };
        if (!Number.isFinite(e.loss)) {
          throw new Error(`training diverged: loss ${e.loss} at step ${step + 1}`);
        }
        log.push(e);
        o.onLog?.(e);
        lossSum.dispose();
        lossSum = null;
        since = 0;
      }
    }
  } finally {
    lossSum?.dispose();
    for (const opt of opts) opt.dispose();
  }
  return {
    log,
    seconds: (performance.now() - t0) / 1000,
    finalLoss: log.length ? log[log.length - 1].loss : NaN,
  };
}

/**
 * Zero-shot predictions: the class whose prompt (`template` filled with each class name) has
 * the most similar text feature. `images(i, n)` gives pixel-space images i..i+n (grey ones are
 * repeated to RGB).
 */
export async function zeroShotPredict(
  clip: Clip,
  tokenizer: ClipTokenizer,
  classNames: readonly string[],
  count: number,
  images: (start: number, n: number) => CaptionBatchPixels,
  { template = "a photo of a {}.", batch = 500 } = {},
): Promise<number[]> {
  const classifier = zeroShotClassifier(clip, tokenizer, classNames, [template]);
  const preds: number[] = [];
  const R = clip.config.imageResolution;
  try {
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      const px = images(i, n);
      const set = { pixels: rgbPixels(px, n, R * R), n, size: R };
      preds.push(...await predictClasses(clip, set, classifier));
    }
  } finally {
    classifier.dispose();
  }
  return preds;
}

/** [n, 3, …] pixels from [n, C, …] ones, C = 3 (as is) or 1 (repeated). */
function rgbPixels(px: CaptionBatchPixels, n: number, plane: number): Float32Array {
  if (px.channels === 3) return px.pixels01;
  const out = new Float32Array(n * 3 * plane);
  for (let i = 0; i < n; i++) {
    const grey = px.pixels01.subarray(i * plane, (i + 1) * plane);
    for (let c = 0; c < 3; c++) out.set(grey, (i * 3 + c) * plane);
  }
  return out;
}

export type CaptionBatchPixels = Pick<CaptionBatch, "pixels01" | "channels">;

/** Share of predictions equal to the labels. */
export function accuracy(preds: readonly number[], labels: ArrayLike<number>): number {
  let ok = 0;
  for (let i = 0; i < preds.length; i++) if (preds[i] === labels[i]) ok++;
  return preds.length ? ok / preds.length : NaN;
}

/** Prompt texts of a template for each class. */
export function prompts(template: string, classNames: readonly string[]): string[] {
  return classNames.map((c) => fillTemplate(template, c));
}

/**
 * Writes the model as an HF CLIPModel folder (config.json + model.safetensors, f32), the
 * tokenizer (tokenizer.json) and any extra files (JSON values, or raw bytes), all at once: everything is written into
 * a staging folder beside `out`, which then replaces `out`.
 */
export async function saveClip(
  clip: Clip,
  config: ClipConfig,
  tokenizer: ClipTokenizer,
  out: string,
  extra: Record<string, unknown> = {},
): Promise<{ bytes: number; params: number }> {
  const recipes = hfRecipes(config);
  const targets = recipes.map((r) => clip.param(r.target));
  const host = await readTensors(targets);
  const specs: Record<string, TensorSpec> = {};
  let params = 0;
  recipes.forEach((r, i) => {
    params += host[i].length;
    r.sources.forEach((s, k) => {
      specs[s.name] = { dtype: "F32", shape: s.shape, data: invertRecipe(r, k, host[i]) };
    });
  });
  const parent = dirname(out);
  await Deno.mkdir(parent, { recursive: true });
  const stage = join(parent, `.tmp-${basename(out)}-${crypto.randomUUID().slice(0, 8)}`);
  await Deno.mkdir(stage);
  try {
    const bytes = await writeSafetensors(join(stage, "model.safetensors"), specs, { format: "pt" });
    const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
    await writeAtomic(join(stage, "config.json"), json(hfConfigJson(config)));
    await writeAtomic(
      join(stage, "tokenizer.json"),
      JSON.stringify(tokenizer.toTokenizerJson()),
    );
    for (const [name, value] of Object.entries(extra)) {
      if (value instanceof Uint8Array) await Deno.writeFile(join(stage, name), value);
      else await writeAtomic(join(stage, name), json(value));
    }
    await replaceDir(stage, out);
    return { bytes, params };
  } catch (e) {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
    throw e;
  }
}

/** Moves `stage` to `out`, replacing an existing `out` (kept aside until the move succeeded). */
async function replaceDir(stage: string, out: string): Promise<void> {
  let old: string | null = null;
  try {
    await Deno.stat(out);
    old = `${stage}-old`;
    await Deno.rename(out, old);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    await Deno.rename(stage, out);
  } catch (e) {
    if (old) await Deno.rename(old, out);
    throw e;
  }
  if (old) await Deno.remove(old, { recursive: true });
}
