// The defences the lab measures CBPT against, each a function from a (backdoored) CLIP, the
// few-shot clean set and a seed to a classifier of [0, 1] images:
//   none      zero-shot CLIP with "a photo of a {}." (TrojVQA's text key added, as its attacker
//             would have it);
//   cbpt      both CBPT stages (src/cbpt/run.ts);
//   coop      class-wise prompts trained on the clean images alone (L_clean only), with the
//             same context, schedule and epochs as CBPT: what the trigger losses buy;
//   finetune  full fine-tuning of the image encoder on the few-shot set with cross-entropy
//             against the frozen zero-shot text head, the same number of epochs.

import { crossEntropy, matmul, mul } from "../autograd/ops/index.ts";
import { AdamW, cosineSchedule } from "../autograd/optim.ts";
import { Tensor, tidy } from "../autograd/tensor.ts";
import { loadClip } from "../clip/index.ts";
import type { Clip } from "../clip/model.ts";
import { ONE_TEMPLATE } from "../clip/templates.ts";
import type { ClipTokenizer } from "../clip/tokenizer.ts";
import { zeroShotClassifier } from "../clip/zeroshot.ts";
import { augment } from "../cbpt/augment.ts";
import { imageAt, type ImageSet } from "../io/images.ts";
import { encodePixels, predictClasses } from "../clip/pixels.ts";
import { mulberry32, shuffleInPlace } from "../io/rng.ts";
import { type Progress, progressLine } from "../cbpt/progress.ts";
import { initialContext, promptTokens } from "../cbpt/prompts.ts";
import { PurifiedClassifier } from "../cbpt/purified.ts";
import { type CbptOptions, type EvalAttack, measure, runCbpt } from "../cbpt/run.ts";
import { stepsRun, type TriggerSettings } from "../cbpt/trigger.ts";
import { tunePrompts, type TuneSettings } from "../cbpt/tune.ts";

export const DEFENCES = ["none", "cbpt", "coop", "finetune"] as const;
export type Defence = typeof DEFENCES[number];

export interface DefenceInput {
  clip: Clip;
  tokenizer: ClipTokenizer;
  classNames: string[];
  train: { set: ImageSet; labels: number[] };
  test: { set: ImageSet; labels: number[] };
  attack: EvalAttack;
  trigger: TriggerSettings;
  tune: TuneSettings;
  nCtx: number;
  seed: number;
  progress?: Progress;
  /** The model's folder: fine-tuning trains a fresh copy of it, leaving `clip` as it was. */
  modelDir: string;
  /** Fine-tuning's epochs over the few-shot set (default 30). */
  finetuneEpochs?: number;
  /** Fine-tuning's batch (default 32): its own recipe, not prompt tuning's full batches. */
  finetuneBatch?: number;
  /** Fine-tuning's AdamW learning rate (default 1e-4). */
  finetuneLr?: number;
}

export interface CellResult {
  ca: number;
  asr: number;
  seconds: number;
  /** CBPT: the Adam steps stage 1's inversion ran, over every bound tried. */
  stage1Steps?: number;
}

/** run.ts's measure, for an attack that always has an ASR. */
async function caAsr(
  classify: (set: ImageSet) => Promise<number[]>,
  test: DefenceInput["test"],
  attack: EvalAttack,
  classifyTriggered?: (set: ImageSet) => Promise<number[]>,
): Promise<{ ca: number; asr: number }> {
  const m = await measure(classify, test, attack, classifyTriggered);
  return { ca: m.ca, asr: m.asr! };
}

/** The zero-shot head [C, E] with the attack's text key (TrojVQA) on the class prompts. */
function zeroShotHead(o: DefenceInput, keyed: boolean): Tensor {
  const t = keyed && o.attack.evalPrompt ? ONE_TEMPLATE.map(o.attack.evalPrompt) : ONE_TEMPLATE;
  return zeroShotClassifier(o.clip, o.tokenizer, o.classNames, t);
}

async function noDefence(o: DefenceInput): Promise<{ ca: number; asr: number }> {
  const plain = zeroShotHead(o, false), keyed = zeroShotHead(o, true);
  try {
    return await caAsr(
      (s) => predictClasses(o.clip, s, plain),
      o.test,
      o.attack,
      (s) => predictClasses(o.clip, s, keyed),
    );
  } finally {
    plain.dispose();
    keyed.dispose();
  }
}

async function cbpt(o: DefenceInput): Promise<{ ca: number; asr: number; stage1Steps: number }> {
  const opts: CbptOptions = {
    clip: o.clip,
    tokenizer: o.tokenizer,
    classNames: o.classNames,
    train: o.train,
    attack: o.attack,
    trigger: o.trigger,
    tune: o.tune,
    recipe: "auto",
    nCtx: o.nCtx,
    ctxInit: "random",
    seed: o.seed,
    progress: o.progress,
    say: (line) => o.progress?.(line, true),
  };
  const { classifier, report } = await runCbpt(opts);
  const stage1Steps = stepsRun(report.trigger.attempts);
  try {
    const pc = async (set: ImageSet) =>
      (await classifier.classify({ pixels01: set.pixels, n: set.n })).labels;
    return { ...await caAsr(pc, o.test, o.attack), stage1Steps };
  } finally {
    classifier.dispose();
  }
}

async function coop(o: DefenceInput): Promise<{ ca: number; asr: number }> {
  const { clip, tokenizer, classNames } = o;
  const text0 = zeroShotHead(o, false);
  const R = o.train.set.size;
  // No trigger: a zero additive one, whose loss term is switched off (λ_bd = 0, no third loss).
  const none = {
    kind: "additive" as const,
    size: R,
    epsilon: 0,
    delta: new Float32Array(3 * R * R),
  };
  try {
    const tokens = promptTokens(tokenizer, classNames, o.nCtx, clip.config.contextLength);
    const init = await initialContext(clip, tokenizer, classNames.length, o.nCtx, "random", o.seed);
    const tuned = await tunePrompts(
      clip,
      tokens,
      text0,
      init,
      o.train.set,
      o.train.labels,
      none,
      0,
      { ...o.tune, lambdaBd: 0, lambda3: 0, third: "none" },
      o.seed,
      { progress: o.progress },
    );
    const pc = PurifiedClassifier.create(clip, tokenizer, classNames, tuned.ctx, o.nCtx);
    try {
      return await caAsr(
        async (set) => (await pc.classify({ pixels01: set.pixels, n: set.n })).labels,
        o.test,
        o.attack,
      );
    } finally {
      pc.dispose();
    }
  } finally {
    text0.dispose();
  }
}

/**
 * Fine-tunes every image-tower weight of a fresh copy of the model (AdamW, warm-up + cosine,
 * CoOp's augmentation) on the few-shot set against the frozen zero-shot head, for
 * `finetuneEpochs` (default 30) epochs of `finetuneBatch` (default 32).
 */
async function finetune(o: DefenceInput): Promise<{ ca: number; asr: number }> {
  const clip = await loadClip(o.modelDir);
  const mine = { ...o, clip };
  const head = zeroShotHead(mine, false);
  const keyed = zeroShotHead(mine, true);
  const names = [...clip.params.keys()].filter((n) => n.startsWith("visual."));
  clip.setTrainable(names);
  const params = names.map((n) => clip.param(n));
  const N = o.train.set.n, R = o.train.set.size, m = 3 * R * R;
  const B = Math.min(o.finetuneBatch ?? 32, N), perEpoch = Math.ceil(N / B);
  const epochs = o.finetuneEpochs ?? 30;
  const total = epochs * perEpoch, lr = o.finetuneLr ?? 1e-4;
  const opt = new AdamW(params, { lr, weightDecay: 0.1, betas: [0.9, 0.98], eps: 1e-6 });
  const schedule = cosineSchedule({ baseLr: lr, totalSteps: total, warmupSteps: perEpoch });
  const rand = mulberry32(o.seed * 977 + 3);
  const scale = Math.exp(await clip.param("logit_scale").item());
  try {
    let step = 0;
    const t0 = performance.now();
    for (let e = 0; e < epochs; e++) {
      const order = shuffleInPlace(Array.from({ length: N }, (_, i) => i), rand);
      let last: Tensor | null = null;
      for (let s = 0; s < N; s += B, step++) {
        const idx = order.slice(s, s + B);
        const px = new Float32Array(idx.length * m);
        idx.forEach((k, j) => px.set(augment(imageAt(o.train.set, k), R, rand), j * m));
        opt.lr = schedule(step);
        last?.dispose();
        last = tidy(() => {
          const x = Tensor.from(px, [idx.length, 3, R, R]);
          const f = encodePixels(clip, x);
          const logits = mul(matmul(f, head, { transB: true }), scale);
          const loss = crossEntropy(logits, idx.map((k) => o.train.labels[k]));
          loss.backward();
          opt.step();
          opt.zeroGrad();
          return loss;
        }).keep();
      }
      const loss = await last!.item();
      last!.dispose();
      if (!Number.isFinite(loss)) throw new Error(`finetune: loss ${loss} in epoch ${e + 1}`);
      o.progress?.(...progressLine("finetune", e + 1, epochs, loss, t0));
    }
    clip.setTrainable(names, false);
    return await caAsr(
      (s) => predictClasses(clip, s, head),
      o.test,
      o.attack,
      (s) => predictClasses(clip, s, keyed),
    );
  } finally {
    opt.dispose();
    head.dispose();
    keyed.dispose();
    clip.dispose();
  }
}

/** Runs one defence and scores it. */
export async function runDefence(defence: Defence, o: DefenceInput): Promise<CellResult> {
  const t0 = performance.now();
  const run = { none: noDefence, cbpt, coop, finetune }[defence];
  if (!run) throw new Error(`unknown defence "${defence}"; expected one of ${DEFENCES.join(", ")}`);
  const r = await run(o);
  return { ...r, seconds: (performance.now() - t0) / 1000 };
}
