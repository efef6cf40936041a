// Stage 1: invert a dummy trigger by contrastive optimisation on a few clean images.
// Default: a universal additive δ in pixel space, x̃ = clamp(x + δ, 0, 1), ‖δ‖∞ ≤ ε (projected
// after every Adam step). Alternative: Neural-Cleanse mask + pattern, x̃ = (1−m)⊙x + m⊙p with
// m = σ(a), p = σ(b) and an L1 penalty on m (suits patch triggers).

import {
  add,
  clamp,
  crossEntropy,
  gatherRows,
  matmul,
  mean,
  mul,
  sigmoid,
  sub,
} from "../autograd/ops/index.ts";
import { Adam, linfBall } from "../autograd/optim.ts";
import { noGrad, readTensors, Tensor, tidy } from "../autograd/tensor.ts";
import type { Clip } from "../clip/model.ts";
import { encodePixels, imageFeatures, predictClasses, rowArgmax } from "../clip/pixels.ts";
import { type ImageSet, subset } from "../io/images.ts";
import { batchDrawer, mulberry32 } from "../io/rng.ts";
import { triggerInfoNce } from "./losses.ts";
import { BatchedScalars } from "./readback.ts";
import { type Progress, progressLine } from "./progress.ts";

/** Stage 1's settings: how the dummy trigger is inverted (docs/method.md). */
export interface TriggerSettings {
  /** "additive": a universal δ with ‖δ‖∞ ≤ ε; "mask": Neural Cleanse's mask and pattern. */
  kind: "additive" | "mask";
  /** L∞ bound of the additive trigger, in [0, 1] pixel units (the first one tried). */
  epsilon: number;
  /**
   * Larger bounds tried in turn (additive trigger) while the suspected target takes less than
   * `minShare` of the triggered images: a backdoor sends nearly all of them to one class once the
   * bound admits its trigger, and an opaque patch or a strong pattern needs more than 16/255.
   * Empty: one bound.
   */
  epsilonLadder: number[];
  /** Share of triggered images in one class that ends the ladder. */
  minShare: number;
  /** Adam steps per bound (at most: see `flatTolerance`). */
  steps: number;
  /**
   * Early stop: a bound's inversion ends once, over the last STOP_WINDOW steps, the class (the
   * aimed one, else the most frequent) takes `minShare` (ladderShare) of the triggered batch
   * images and the mean loss fell by at most this fraction of what it has fallen since step 1
   * (see stopDue). 0: always run `steps`.
   */
  flatTolerance: number;
  /** Adam's learning rate. */
  lr: number;
  /** InfoNCE temperature. */
  tau: number;
  /** Images per step. */
  batch: number;
  /** Weight of mean(m) for the mask trigger. */
  maskL1: number;
  /**
   * The additive trigger's shape (default "full"); stage 1 takes the shape whose per-class
   * search singled its suspect out.
   */
  pattern?: TriggerPattern;
}

/** Stage 1's defaults for the additive trigger (purify.ts starts from these and PURIFY_TRIGGER). */
export const TRIGGER_DEFAULTS: TriggerSettings = {
  kind: "additive",
  epsilon: 16 / 255,
  // Not 1: with no bound a universal adversarial perturbation of some other class wins (the
  // lab's Blended, SIG, WaNet and SSBA fixtures all named a wrong class at ε = 1).
  epsilonLadder: [32 / 255, 64 / 255, 128 / 255],
  minShare: 0.9,
  steps: 500,
  flatTolerance: 0.02,
  lr: 0.01,
  tau: 0.1,
  batch: 64,
  maskL1: 0.01,
};

/**
 * The mask trigger's defaults. Its logits start at −3 (m ≈ 0.05), so Adam at lr 0.01 moves them
 * by < 1 in 60 steps and the mask never opens: on the toy patch backdoor (test/toy_backdoor.ts,
 * width 128) lr 0.01 named no target (33 % share of 3 classes) where lr 0.1 named the right one
 * (100 %). Weight 0.01 on mean(m) let the mask grow over the whole image into a universal
 * adversarial pattern (the wrong class, 90 %); 0.1 kept it to the patch (Neural Cleanse's lr).
 */
export const MASK_TRIGGER_DEFAULTS: TriggerSettings = {
  ...TRIGGER_DEFAULTS,
  kind: "mask",
  lr: 0.1,
  maskL1: 0.1,
};

/** The defaults of a trigger kind. */
export function triggerDefaults(kind: TriggerSettings["kind"]): TriggerSettings {
  return kind === "mask" ? MASK_TRIGGER_DEFAULTS : TRIGGER_DEFAULTS;
}

/**
 * The shape of an additive trigger: "full" (any δ, 3 × R × R values); "columns" (one value per
 * column, the same down every row and in every channel: SIG's stripes and other 1-D patterns,
 * which a full δ does not single out because a generic perturbation of any class is cheaper
 * than them in L∞); "rows" (one value per row).
 */
export type TriggerPattern = "full" | "columns" | "rows";

/** The trigger shapes there are. */
export const TRIGGER_PATTERNS: readonly TriggerPattern[] = ["full", "columns", "rows"];

/** Values a trigger of `pattern` has at resolution R, and its shape as a broadcastable tensor. */
export function patternShape(pattern: TriggerPattern, R: number): number[] {
  return pattern === "full" ? [3, R, R] : pattern === "columns" ? [1, 1, R] : [1, R, 1];
}

/** A pattern's values spread to a full 3 × R × R δ. */
export function expandPattern(pattern: TriggerPattern, v: Float32Array, R: number): Float32Array {
  if (pattern === "full") return v;
  const out = new Float32Array(3 * R * R);
  for (let ch = 0; ch < 3; ch++) {
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < R; j++) out[(ch * R + i) * R + j] = pattern === "columns" ? v[j] : v[i];
    }
  }
  return out;
}

/** A trigger on the host, ready to apply to [0, 1] images or to save. */
export type HostTrigger =
  | { kind: "additive"; size: number; epsilon: number; delta: Float32Array }
  | { kind: "mask"; size: number; mask: Float32Array; pattern: Float32Array };

/** Applies a host trigger to every image of a set (new pixels, clamped to [0, 1]). */
export function applyTrigger(t: HostTrigger, set: ImageSet): ImageSet {
  if (set.size !== t.size) throw new Error(`trigger is ${t.size} px, images are ${set.size} px`);
  const plane = t.size * t.size, m = 3 * plane;
  const out = new Float32Array(set.pixels.length);
  for (let i = 0; i < set.pixels.length; i++) {
    const k = i % m;
    const x = set.pixels[i];
    const v = t.kind === "additive"
      ? x + t.delta[k]
      : (1 - t.mask[k % plane]) * x + t.mask[k % plane] * t.pattern[k];
    out[i] = Math.min(1, Math.max(0, v));
  }
  return { pixels: out, n: set.n, size: set.size };
}

/** The trigger as a picture: 0.5 + δ/(2ε) for additive triggers, m⊙p for masks. */
export function triggerPicture(t: HostTrigger): Float32Array {
  const plane = t.size * t.size;
  return t.kind === "additive"
    ? t.delta.map((d) => 0.5 + d / (2 * t.epsilon))
    : t.pattern.map((p, k) => p * t.mask[k % plane]);
}

/** What {@link invertTrigger} found. */
export interface InversionResult {
  /** The inverted trigger (of the bound kept). */
  trigger: HostTrigger;
  /** The class most triggered images fall into under the zero-shot classifier, and its share. */
  suspectedTarget: number;
  /** The share of triggered images that fall into `suspectedTarget`. */
  targetShare: number;
  /** The loss of every step, in order (of the bound kept). */
  losses: number[];
  /** Adam steps the kept bound ran (fewer than `steps` when it stopped early). */
  steps: number;
  /** Wall-clock time of the whole inversion. */
  seconds: number;
  /** Every bound tried (one, unless the ladder climbed), in order; the kept one is `trigger`'s. */
  attempts: TriggerAttempt[];
}

/** One bound of the ladder, as tried. */
export interface TriggerAttempt {
  /** The L∞ bound. */
  epsilon: number;
  /** The class most triggered images fell into. */
  suspectedTarget: number;
  /** Their share. */
  targetShare: number;
  /** Adam steps this bound ran. */
  steps: number;
  /** Wall-clock time of this bound. */
  seconds: number;
}

/** "16/255" for bounds on the 1/255 grid, else the number. */
export function formatEpsilon(e: number): string {
  const k = e * 255;
  return Math.abs(k - Math.round(k)) < 1e-6 ? `${Math.round(k)}/255` : String(e);
}

/**
 * The share that ends the ladder. A restricted shape (one value per column or row) climbs until the
 * share saturates (RESTRICTED_MIN_SHARE): it has R values, not 3R², so a larger bound does not
 * open the generic routes that make a full δ stop at the first bound reaching `minShare`; what
 * bounds it is the backdoor's own amplitude, and prompts tuned against a trigger weaker than the
 * attacker's leave part of the backdoor (the lab's SIG, seed 3: 90.6 % at 32/255 ended the ladder
 * and stage 2 left ASR at 27.8 %; at 64/255, where seeds 1 and 2 stopped with 98.8 and 100 %, it
 * left 5.7 and 5.1 %).
 */
export function ladderShare(settings: TriggerSettings): number {
  const restricted = settings.kind === "additive" && (settings.pattern ?? "full") !== "full";
  return restricted ? Math.max(settings.minShare, RESTRICTED_MIN_SHARE) : settings.minShare;
}

/** The share a restricted shape's ladder climbs to (see ladderShare). */
export const RESTRICTED_MIN_SHARE = 0.98;

/**
 * Stage 1. The additive trigger climbs `epsilonLadder` until one class takes `minShare` of the
 * triggered few-shot images; if no bound gets there, the one with the largest share is kept.
 */
export async function invertTrigger(
  clip: Clip,
  set: ImageSet,
  labels: readonly number[],
  classText: Tensor,
  settings: TriggerSettings,
  seed: number,
  progress?: Progress,
  /** Called when a bound falls short and the ladder climbs to `next`. */
  onClimb?: (attempt: TriggerAttempt, next: number) => void,
  /**
   * A class the trigger must send images to (the per-class search's suspect): its zero-shot
   * cross-entropy joins the contrastive loss, and its share decides the ladder, so the collapse
   * goes to that class rather than to the model's sink.
   */
  target?: number,
): Promise<InversionResult> {
  const t0 = performance.now();
  const bounds = settings.kind === "additive"
    ? [settings.epsilon, ...new Set(settings.epsilonLadder.filter((e) => e > settings.epsilon))]
      .sort((a, b) => a - b)
    : [settings.epsilon];
  const attempts: TriggerAttempt[] = [];
  let best: Omit<InversionResult, "attempts" | "seconds"> | null = null;
  // Clean features never change: compute them once for every bound.
  const clean = imageFeatures(clip, set).keep();
  try {
    for (const [k, epsilon] of bounds.entries()) {
      const label = bounds.length > 1
        ? `stage 1 (trigger, ε ${formatEpsilon(epsilon)})`
        : undefined;
      const r = await invertOnce(
        clip,
        set,
        clean,
        labels,
        classText,
        { ...settings, epsilon },
        seed,
        {
          progress,
          label,
          target,
        },
      );
      attempts.push({
        epsilon,
        suspectedTarget: r.suspectedTarget,
        targetShare: r.targetShare,
        steps: r.steps,
        seconds: r.seconds,
      });
      if (!best || r.targetShare > best.targetShare) best = r;
      if (r.targetShare >= ladderShare(settings)) break;
      if (k + 1 < bounds.length) onClimb?.(attempts[k], bounds[k + 1]);
    }
  } finally {
    clean.dispose();
  }
  return { ...best!, attempts, seconds: (performance.now() - t0) / 1000 };
}

/** One inversion at one bound. */
async function invertOnce(
  clip: Clip,
  set: ImageSet,
  /** The set's clean features, [N, E] normalised. */
  clean: Tensor,
  labels: readonly number[],
  classText: Tensor,
  settings: TriggerSettings,
  seed: number,
  io: { progress?: Progress; label?: string; target?: number },
): Promise<Omit<InversionResult, "attempts">> {
  const { progress, label = "stage 1 (trigger)", target: aim } = io;
  const scale = aim === undefined ? 0 : Math.exp((await clip.param("logit_scale").toArray())[0]);
  const t0 = performance.now();
  const R = set.size;
  const rand = mulberry32(seed);
  const eps = settings.epsilon;
  const init = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
  const pattern = settings.pattern ?? "full", pshape = patternShape(pattern, R);
  const params: Tensor[] = settings.kind === "additive"
    ? [
      Tensor.from(init(pshape.reduce((a, b) => a * b, 1), () => (2 * rand() - 1) * eps), pshape, {
        requiresGrad: true,
      }),
    ]
    : [
      Tensor.from(init(R * R, () => -3 + 0.1 * (2 * rand() - 1)), [1, R, R], {
        requiresGrad: true,
      }),
      Tensor.from(init(3 * R * R, () => 2 * rand() - 1), [3, R, R], { requiresGrad: true }),
    ];
  const opt = new Adam(params, {
    lr: settings.lr,
    project: settings.kind === "additive" ? linfBall(eps) : undefined,
  });
  const applyGpu = (x: Tensor) =>
    settings.kind === "additive" ? clamp(add(x, params[0]), 0, 1) : (() => {
      const m = sigmoid(params[0]), p = sigmoid(params[1]);
      return add(mul(x, sub(1, m)), mul(m, p));
    })();

  const B = Math.min(settings.batch, set.n), C = classText.shape[0];
  const losses: number[] = [];
  // Per step, the classes its triggered batch fell into (the logits of the step's own forward).
  const predicted: number[][] = [];
  const nextBatch = batchDrawer(set.n, B, rand);
  const reader = new BatchedScalars<number>(STOP_WINDOW);
  const drain = async () => {
    const read = await reader.read();
    for (const { tag: step, values: [v], arrays: [, logits] } of read) {
      if (!Number.isFinite(v)) {
        throw new Error(`trigger inversion: loss became ${v} at step ${step}`);
      }
      losses.push(v);
      predicted.push(rowArgmax(logits, C));
    }
    // One line a read-back: its steps arrive together (progressLine's ETA).
    const last = read.at(-1);
    if (last) progress?.(...progressLine(label, last.tag, settings.steps, last.values[0], t0));
  };
  let steps = 0;
  try {
    for (let step = 1; step <= settings.steps; step++) {
      const idx = nextBatch();
      const batch = subset(set, idx);
      const [loss, logits] = tidy(() => {
        const x = Tensor.from(batch.pixels, [B, 3, R, R]);
        const aimed = aim === undefined ? undefined : { target: aim, scale };
        const terms = inversionTerms(
          clip,
          applyGpu(x),
          clean,
          idx,
          labels,
          classText,
          settings.tau,
          aimed,
        );
        let l = terms.loss;
        if (settings.kind === "mask") l = add(l, mul(mean(sigmoid(params[0])), settings.maskL1));
        l.backward();
        opt.step();
        opt.zeroGrad();
        return [l, terms.logits];
      });
      steps = step;
      if (reader.push(step, [loss, logits])) {
        await drain();
        const stop = stopDue(losses, predicted, {
          window: STOP_WINDOW,
          share: ladderShare(settings),
          tolerance: settings.flatTolerance,
          target: aim,
        });
        if (stop) break;
      }
    }
    await drain();
  } finally {
    reader.dispose();
  }
  const host: HostTrigger = settings.kind === "additive"
    ? {
      kind: "additive",
      size: R,
      epsilon: eps,
      delta: expandPattern(pattern, (await readTensors(params))[0], R),
    }
    : await (async () => {
      const [m, p] = await readTensors(noGrad(() => [sigmoid(params[0]), sigmoid(params[1])]));
      return { kind: "mask" as const, size: R, mask: m, pattern: p };
    })();
  for (const p of params) p.dispose();
  opt.dispose();
  const shares = await triggeredShares(clip, host, set, classText);
  const target = aim ?? shares.indexOf(Math.max(...shares));
  return {
    trigger: host,
    suspectedTarget: target,
    targetShare: shares[target],
    losses,
    steps,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Adam steps stage 1 ran over every bound tried (attempts as in InversionResult or a report). */
export function stepsRun(attempts: readonly { steps: number }[]): number {
  return attempts.reduce((n, a) => n + a.steps, 0);
}

/** Steps over which stage 1's early stop judges share and loss (one read-back's worth). */
export const STOP_WINDOW = 16;

/**
 * Stage 1's early stop, judged on the steps seen so far: `losses[i]` is step i+1's loss and
 * `predicted[i]` the classes its triggered batch fell into. True when the last `window` steps
 * sent at least `share` of their batches' images to one class (`target`, else the most frequent)
 * and their mean loss is at most `tolerance` × (the total fall since step 1) below the window
 * before: the trigger does what a backdoor's does and more steps barely move it. Needs two
 * windows; a loss that has not fallen at all is flat.
 */
export function stopDue(
  losses: readonly number[],
  predicted: readonly (readonly number[])[],
  o: { window: number; share: number; tolerance: number; target?: number },
): boolean {
  const n = losses.length, w = o.window;
  if (o.tolerance <= 0 || n < 2 * w || predicted.length !== n) return false;
  const recent = predicted.slice(n - w).flat();
  const counts = new Map<number, number>();
  for (const c of recent) counts.set(c, (counts.get(c) ?? 0) + 1);
  const top = o.target ?? [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
  if ((counts.get(top) ?? 0) < o.share * recent.length) return false;
  const avg = (a: readonly number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const last = avg(losses.slice(n - w)), before = avg(losses.slice(n - 2 * w, n - w));
  return before - last <= o.tolerance * Math.max(0, losses[0] - last);
}

/**
 * Stage 1's loss on one batch: InfoNCE over the triggered images' features (`triggered`: their
 * [0, 1] pixels with the trigger applied, on the tape) against the batch's clean features (rows
 * `idx` of `clean`), plus, when `aimed`, the zero-shot cross-entropy toward the suspect.
 * bench/vs-torch times this step.
 */
export function inversionLoss(...args: Parameters<typeof inversionTerms>): Tensor {
  return inversionTerms(...args).loss;
}

/** {@link inversionLoss}, and the triggered images' cosines with each class ([B, C]). */
function inversionTerms(
  clip: Clip,
  triggered: Tensor,
  clean: Tensor,
  idx: readonly number[],
  labels: readonly number[],
  classText: Tensor,
  tau: number,
  aimed?: { target: number; scale: number },
): { loss: Tensor; logits: Tensor } {
  const trig = encodePixels(clip, triggered);
  const cleanRows = noGrad(() => gatherRows(clean, [...idx]));
  const l = triggerInfoNce(trig, cleanRows, classText, idx.map((i) => labels[i]), tau);
  const logits = matmul(trig, classText, { transB: true });
  if (!aimed) return { loss: l, logits };
  const ce = crossEntropy(mul(logits, aimed.scale), Array(idx.length).fill(aimed.target));
  return { loss: add(l, ce), logits };
}

/** Share of the set's images that the trigger sends to each class (zero-shot over classText). */
export async function triggeredShares(
  clip: Clip,
  trigger: HostTrigger,
  set: ImageSet,
  classText: Tensor,
): Promise<number[]> {
  const preds = await predictClasses(clip, applyTrigger(trigger, set), classText);
  const counts = new Array(classText.shape[0]).fill(0);
  for (const p of preds) counts[p]++;
  return counts.map((c) => c / set.n);
}

/**
 * Stage 1's result for a trigger that is already known (no inversion): its target, and the share
 * of the few-shot images it sends there.
 */
export async function knownTriggerResult(
  clip: Clip,
  known: { trigger: HostTrigger; target: number },
  set: ImageSet,
  classText: Tensor,
): Promise<InversionResult> {
  const shares = await triggeredShares(clip, known.trigger, set, classText);
  return {
    trigger: known.trigger,
    suspectedTarget: known.target,
    targetShare: shares[known.target],
    losses: [],
    steps: 0,
    seconds: 0,
    attempts: [],
  };
}
