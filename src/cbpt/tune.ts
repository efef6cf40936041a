// Stage 2: class-wise prompt tuning with L = L_clean + λ_bd·L_bd + λ_3·L_3.
//
// The image tower is frozen and the dummy trigger fixed, so image features are computed once for
// `views` augmented views of every image (view 0 unaugmented), clean and triggered (same
// augmentation, then the trigger); each step then runs only the text tower. A checkpoint is
// written at the end of an epoch, at most every 10 s and always at the last one; batch order and
// view choice depend only on (seed, epoch), so a resumed run gives the same prompts as an
// uninterrupted one.
//
// Many classes (ImageNet's 1,000): the text tower's activations for every class at once would
// not fit, so a step runs it in class chunks with exact gradients. (1) Features of all classes
// without the tape, a chunk at a time; (2) the loss on them as a leaf F, whose backward gives
// G = dL/dF; (3) each chunk again with the tape, its backward seeded with its rows of G, which
// adds that chunk's share of dL/dctx (the chain rule through F, one chunk's rows at a time).
// Memory is one chunk's activations plus the [C, E] features and the [batch, C] logits; the
// cost is one more forward pass of the tower a step. Few classes take one pass, as before.

import { fileExists } from "../io/files.ts";
import { add, concat, gatherRows, mul, slice } from "../autograd/ops/index.ts";
import { Adam, cosineSchedule, SGD } from "../autograd/optim.ts";
import { noGrad, readTensors, Tensor, tidy } from "../autograd/tensor.ts";
import type { Clip } from "../clip/model.ts";
import { rt } from "../gpu/runtime.ts";
import { readSafetensors, toFloat32, writeSafetensors } from "../io/safetensors.ts";
import { augment } from "./augment.ts";
import { imageAt, type ImageSet } from "../io/images.ts";
import { imageFeatures } from "../clip/pixels.ts";
import { mulberry32, shuffleInPlace } from "../io/rng.ts";
import { anchorLoss, classificationLoss, consistencyLoss, marginLoss } from "./losses.ts";
import { type Progress, progressLine } from "./progress.ts";
import { BatchedScalars } from "./readback.ts";
import {
  chunkContext,
  classChunkSize,
  type PromptChunk,
  promptChunks,
  promptFeatures,
  type PromptTokens,
} from "./prompts.ts";
import { applyTrigger, type HostTrigger } from "./trigger.ts";

/**
 * Stage 2's third loss L_3: "anchor" keeps class features near zero-shot CLIP's (KgCoOp-style),
 * "margin" pushes triggered images' true class above the suspected target by `margin`, "kl"
 * matches clean and triggered class distributions, "none" drops it.
 */
export type ThirdLoss = "anchor" | "margin" | "kl" | "none";

/** Stage 2's settings: L = L_clean + λ_bd·L_bd + λ_3·L_3, and how it is optimised. */
export interface TuneSettings {
  /** Weight λ_bd of the backdoor loss (triggered images classified as their true class). */
  lambdaBd: number;
  /** Weight λ_3 of the third loss. */
  lambda3: number;
  /** Which third loss. */
  third: ThirdLoss;
  /** Margin of the "margin" loss, in cosine units. */
  margin: number;
  /** CoOp's SGD with momentum, or Adam (β 0.9, 0.999; `momentum` unused). */
  optimizer: "sgd" | "adam";
  /** Peak learning rate (cosine schedule after the warm-up). */
  lr: number;
  /** SGD's momentum. */
  momentum: number;
  /** L2 weight decay of the context vectors. */
  weightDecay: number;
  /** Images per step. */
  batch: number;
  /** Passes over the few-shot set. */
  epochs: number;
  /** Epochs at the constant warm-up lr 1e-5 before the cosine schedule (CoOp). */
  warmupEpochs: number;
  /** Augmented views cached per image (1 = no augmentation). */
  views: number;
  /**
   * Classes per text-tower chunk (see the header). 0 or absent: all classes in one pass while
   * their activations fit prompts.ts's TEXT_CHUNK_BYTES, else as many a chunk as fit.
   */
  classChunk?: number;
}

/** CoOp's recipe (purify.ts uses PURIFY_TUNE over it: docs/method.md says why). */
export const TUNE_DEFAULTS: TuneSettings = {
  lambdaBd: 1,
  lambda3: 8,
  third: "anchor",
  margin: 0.1,
  optimizer: "sgd",
  lr: 0.002,
  momentum: 0.9,
  weightDecay: 5e-4,
  batch: 32,
  epochs: 50,
  warmupEpochs: 1,
  views: 4,
};

/** One epoch's mean losses. */
export interface EpochLosses {
  /** The epoch, from 1. */
  epoch: number;
  /** L_clean. */
  clean: number;
  /** L_bd. */
  bd: number;
  /** L_3. */
  third: number;
  /** The weighted sum. */
  total: number;
}

/** What {@link tunePrompts} returns. */
export interface TuneResult {
  /** The learned context vectors, [C, M, Wt] row-major. */
  ctx: Float32Array;
  /** Every epoch's losses (a resumed run's earlier epochs included). */
  epochs: EpochLosses[];
  /** Wall-clock time of this call. */
  seconds: number;
  /** The epoch a resumed run went on from (0: from the start). */
  resumedFrom: number;
}

/** Where {@link tunePrompts} keeps its checkpoints and says how it is going. */
export interface TuneIO {
  /** Checkpoint file, written atomically at the end of an epoch (see checkpointEveryMs). */
  checkpoint?: string;
  /** Go on from `checkpoint` when it exists (it must match the model and optimiser). */
  resume?: boolean;
  /** Progress lines (default: silent). */
  progress?: Progress;
  /** Stop after this many epochs of this call (tests simulate an interruption with it). */
  stopAfterEpochs?: number;
  /** Steps whose losses come back in one GPU sync (default READ_EVERY, src/cbpt/readback.ts). */
  readEvery?: number;
  /** Least time between two checkpoints (default CHECKPOINT_MS; 0: every epoch). */
  checkpointEveryMs?: number;
}

/** Clean and triggered image features of every view: [views·N, E] each, normalised. */
async function cacheFeatures(
  clip: Clip,
  set: ImageSet,
  trigger: HostTrigger,
  views: number,
  seed: number,
  progress?: Progress,
): Promise<{ clean: Tensor; trig: Tensor }> {
  const rand = mulberry32(seed ^ 0x5eed);
  const R = set.size, m = 3 * R * R;
  const cleanParts: Tensor[] = [], trigParts: Tensor[] = [];
  const t0 = performance.now();
  for (let v = 0; v < views; v++) {
    const pix = new Float32Array(set.n * m);
    for (let i = 0; i < set.n; i++) {
      pix.set(v === 0 ? imageAt(set, i) : augment(imageAt(set, i), R, rand), i * m);
    }
    const view: ImageSet = { pixels: pix, n: set.n, size: R };
    cleanParts.push(imageFeatures(clip, view, 32).keep());
    trigParts.push(imageFeatures(clip, applyTrigger(trigger, view), 32).keep());
    await rt().sync(); // one sync per view, for the progress
    progress?.(...progressLine("stage 2 (image features)", v + 1, views, null, t0));
  }
  const cat = (parts: Tensor[]) => {
    const all = noGrad(() => (parts.length === 1 ? parts[0] : concat(parts, 0))).keep();
    for (const p of parts) if (p !== all) p.dispose();
    return all;
  };
  return { clean: cat(cleanParts), trig: cat(trigParts) };
}

/** Least time between two checkpoints (the last epoch of a call is always saved). */
export const CHECKPOINT_MS = 10_000;

/** Learning rate at a global step: constant 1e-5 during warm-up, then cosine from `lr`. */
function lrAt(s: TuneSettings, step: number, stepsPerEpoch: number): number {
  const warm = s.warmupEpochs * stepsPerEpoch;
  if (step < warm) return 1e-5;
  const total = s.epochs * stepsPerEpoch;
  return cosineSchedule({ baseLr: s.lr, totalSteps: total - warm })(step - warm);
}

/**
 * Stage 2: tunes class-wise context vectors (from `initCtx`) on the few shots `set` and their
 * triggered copies, against the suspected target. `text0` holds zero-shot CLIP's class features
 * [C, E] (the anchor loss's reference).
 */
export async function tunePrompts(
  clip: Clip,
  tokens: PromptTokens,
  text0: Tensor,
  initCtx: Float32Array,
  set: ImageSet,
  labels: readonly number[],
  trigger: HostTrigger,
  suspectedTarget: number,
  s: TuneSettings,
  seed: number,
  io: TuneIO = {},
): Promise<TuneResult> {
  const t0 = performance.now();
  const ck = await checkpointFor(clip, tokens, s, io); // a bad checkpoint fails before any work
  const feats = await cacheFeatures(clip, set, trigger, s.views, seed, io.progress);
  try {
    return await tuneLoop(
      clip,
      tokens,
      text0,
      initCtx,
      feats,
      labels,
      suspectedTarget,
      s,
      seed,
      io,
      {
        ck,
        t0,
      },
    );
  } finally {
    feats.clean.dispose();
    feats.trig.dispose();
  }
}

/** Cached image features for {@link tuneOnFeatures}: [views·N, E] each, normalised. */
export interface CachedFeatures {
  /** Clean images, view-major: row v·N + i is view v of image i (view 0 unaugmented). */
  clean: Tensor;
  /** The same views with the trigger applied. */
  trig: Tensor;
}

/**
 * Stage 2 from image features already cached (tunePrompts without its image tower pass; what
 * bench/scale.ts times on synthetic features). `feats` hold s.views views of labels.length
 * images; they stay the caller's.
 */
export async function tuneOnFeatures(
  clip: Clip,
  tokens: PromptTokens,
  text0: Tensor,
  initCtx: Float32Array,
  feats: CachedFeatures,
  labels: readonly number[],
  suspectedTarget: number,
  s: TuneSettings,
  seed: number,
  io: TuneIO = {},
): Promise<TuneResult> {
  const t0 = performance.now();
  const N = labels.length;
  for (const t of [feats.clean, feats.trig]) {
    if (t.rank !== 2 || t.shape[0] !== s.views * N) {
      throw new Error(`tuneOnFeatures: features ${t} are not ${s.views} views of ${N} images`);
    }
  }
  const ck = await checkpointFor(clip, tokens, s, io);
  return tuneLoop(clip, tokens, text0, initCtx, feats, labels, suspectedTarget, s, seed, io, {
    ck,
    t0,
  });
}

function checkpointFor(
  clip: Clip,
  tokens: PromptTokens,
  s: TuneSettings,
  io: TuneIO,
): Promise<Checkpoint | null> {
  const C = tokens.shape[0], M = tokens.nCtx, Wt = clip.config.transformerWidth;
  return io.resume && io.checkpoint
    ? loadCheckpoint(io.checkpoint, [C, M, Wt], clip.fingerprint, s.optimizer)
    : Promise.resolve(null);
}

async function tuneLoop(
  clip: Clip,
  tokens: PromptTokens,
  text0: Tensor,
  initCtx: Float32Array,
  feats: CachedFeatures,
  labels: readonly number[],
  suspectedTarget: number,
  s: TuneSettings,
  seed: number,
  io: TuneIO,
  { ck, t0 }: { ck: Checkpoint | null; t0: number },
): Promise<TuneResult> {
  const C = tokens.shape[0], M = tokens.nCtx, Wt = clip.config.transformerWidth;
  const param = Tensor.from(ck ? ck.ctx : initCtx, [C, M, Wt], { requiresGrad: true });
  const optimizer = s.optimizer === "adam"
    ? new Adam([param], { lr: s.lr, weightDecay: s.weightDecay })
    : new SGD([param], { lr: s.lr, momentum: s.momentum, weightDecay: s.weightDecay });
  if (ck?.state.length) optimizer.restoreState(param, ck.state, ck.steps);
  const done = ck?.epoch ?? 0;
  const history: EpochLosses[] = ck?.epochs ?? [];
  const scale = Math.exp((await clip.param("logit_scale").toArray())[0]);
  const K = classChunkSize(clip.config, tokens, s.classChunk ?? 0, rt().maxBinding);
  const chunks: PromptChunk[] | null = K < C ? promptChunks(tokens, K) : null;
  const N = labels.length, B = Math.min(s.batch, N);
  const stepsPerEpoch = Math.ceil(N / B);
  const totalSteps = s.epochs * stepsPerEpoch;
  const last = Math.min(s.epochs, done + (io.stopAfterEpochs ?? Infinity));
  // Host work is batched: the losses of several steps come back in one GPU sync, and the
  // checkpoint is written at most every CHECKPOINT_MS and at the last epoch of the call.
  const reader = new BatchedScalars<{ epoch: number; b: number; step: number }>(io.readEvery);
  const sums = [0, 0, 0, 0];
  const names = ["L_clean", "L_bd", "L_3", "total"];
  const flush = async () => {
    const read = await reader.read();
    for (const { tag: p, values } of read) {
      const bad = values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        throw new Error(
          `prompt tuning: ${names[bad]} became ${values[bad]} at epoch ${p.epoch}, step ${
            p.b + 1
          } (global step ${p.step + 1}); lower --lr or check the data`,
        );
      }
      values.forEach((v, i) => sums[i] += v);
      if (p.b === stepsPerEpoch - 1) {
        const [clean, bd, third, total] = sums.map((x) => x / stepsPerEpoch);
        history.push({ epoch: p.epoch, clean, bd, third, total });
        sums.fill(0);
      }
    }
    // One line a read-back: its steps arrive together (progressLine's ETA).
    const last = read.at(-1);
    if (last) {
      io.progress?.(
        ...progressLine(
          `stage 2 (prompts) epoch ${last.tag.epoch}/${s.epochs}`,
          last.tag.step + 1,
          totalSteps,
          last.values[3],
          t0,
        ),
      );
    }
  };
  let lastCheckpoint = performance.now();
  try {
    for (let epoch = done + 1; epoch <= last; epoch++) {
      const rand = mulberry32((seed * 7919 + epoch * 104729) >>> 0);
      const order = shuffleInPlace(Array.from({ length: N }, (_, i) => i), rand);
      for (let b = 0; b < stepsPerEpoch; b++) {
        const idx = order.slice(b * B, (b + 1) * B);
        const rows = idx.map((i) => Math.floor(rand() * s.views) * N + i);
        const y = idx.map((i) => labels[i]);
        const step = (epoch - 1) * stepsPerEpoch + b;
        optimizer.lr = lrAt(s, step, stepsPerEpoch);
        const parts = tidy(() => {
          const ci = gatherRows(feats.clean, rows), ti = gatherRows(feats.trig, rows);
          const loss = (text: Tensor) => {
            const lClean = classificationLoss(ci, text, y, scale);
            const lBd = classificationLoss(ti, text, y, scale);
            const l3 = s.third === "anchor"
              ? anchorLoss(text, text0)
              : s.third === "margin"
              ? marginLoss(ti, text, y, suspectedTarget, s.margin)
              : s.third === "kl"
              ? consistencyLoss(ci, ti, text, scale)
              : mul(lClean, 0);
            const total = add(add(lClean, mul(lBd, s.lambdaBd)), mul(l3, s.lambda3));
            total.backward();
            return [lClean, lBd, l3, total];
          };
          const out = chunks
            ? chunkedStep(clip, param, chunks, loss)
            : loss(promptFeatures(clip, param, tokens));
          optimizer.step();
          optimizer.zeroGrad();
          return out;
        });
        if (reader.push({ epoch, b, step }, parts)) await flush();
      }
      const now = performance.now();
      const every = io.checkpointEveryMs ?? CHECKPOINT_MS;
      if (io.checkpoint && (epoch === last || now - lastCheckpoint >= every)) {
        await flush(); // a checkpoint is written only after its losses were seen to be finite
        await saveCheckpoint(
          io.checkpoint,
          param,
          optimizer,
          s.optimizer,
          epoch,
          history,
          clip.fingerprint,
        );
        lastCheckpoint = performance.now();
      }
    }
    await flush();
  } finally {
    reader.dispose();
  }
  const [ctxOut] = await readTensors([param]);
  param.dispose();
  optimizer.dispose();
  return {
    ctx: ctxOut,
    epochs: history,
    seconds: (performance.now() - t0) / 1000,
    resumedFrom: done,
  };
}

/**
 * One step's gradient through the text tower in class chunks (see the header): `loss` gets the
 * features of every class as a leaf F, returns its scalars and has run their backward; each
 * chunk is then recomputed with the tape and its backward seeded with its rows of dL/dF, so
 * ctx.grad ends as the sum of the chunks' (disjoint) shares: the unchunked gradient.
 */
function chunkedStep(
  clip: Clip,
  ctx: Tensor,
  chunks: readonly PromptChunk[],
  loss: (text: Tensor) => Tensor[],
): Tensor[] {
  const parts = noGrad(() =>
    chunks.map((ch) => tidy(() => promptFeatures(clip, chunkContext(ctx, ch), ch.tokens)))
  );
  const text = noGrad(() => concat(parts, 0));
  for (const p of parts) p.dispose();
  text.requiresGrad = true; // a leaf: the loss's backward stops at it
  const scalars = loss(text);
  const g = text.grad;
  text.grad = null;
  if (!g) throw new Error("prompt tuning: the loss does not depend on the class features");
  try {
    for (const ch of chunks) {
      tidy(() => {
        const f = promptFeatures(clip, chunkContext(ctx, ch), ch.tokens);
        f.backward(noGrad(() => slice(g, 0, ch.start, ch.end)));
      });
    }
  } finally {
    g.dispose();
  }
  text.dispose();
  return scalars;
}

interface Checkpoint {
  ctx: Float32Array;
  /** The optimiser's state arrays (SGD: momentum; Adam: first and second moments). */
  state: Float32Array[];
  steps: number;
  epoch: number;
  epochs: EpochLosses[];
}

async function saveCheckpoint(
  path: string,
  ctx: Tensor,
  opt: SGD | Adam,
  kind: TuneSettings["optimizer"],
  epoch: number,
  epochs: EpochLosses[],
  fingerprint: string,
): Promise<void> {
  const st = opt.stateOf(ctx);
  const [c, ...state] = await readTensors([ctx, ...(st?.tensors ?? [])]);
  const specs: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {
    ctx: { dtype: "F32", shape: [...ctx.shape], data: c },
  };
  state.forEach((data, i) => specs[`state${i}`] = { dtype: "F32", shape: [...ctx.shape], data });
  await writeSafetensors(path, specs, {
    optimizer: kind,
    epoch: String(epoch),
    steps: String(st?.steps ?? 0),
    epochs: JSON.stringify(epochs),
    fingerprint,
  });
}

async function loadCheckpoint(
  path: string,
  shape: number[],
  fingerprint: string,
  kind: TuneSettings["optimizer"],
): Promise<Checkpoint | null> {
  if (!(await fileExists(path))) return null;
  const st = await readSafetensors(path);
  const meta = st.metadata ?? {};
  if (meta.fingerprint !== fingerprint) {
    throw new Error(
      `${path}: checkpoint was made for another model (fingerprint ${meta.fingerprint})`,
    );
  }
  const c = st.tensors.get("ctx");
  if (!c || c.shape.join() !== shape.join()) {
    throw new Error(`${path}: ctx is [${c?.shape}], expected [${shape}]`);
  }
  // Checkpoints before the optimiser choice hold SGD's momentum under its own name.
  const saved = meta.optimizer ?? "sgd";
  if (saved !== kind) {
    throw new Error(
      `${path}: checkpoint was made with --optimizer ${saved}, this run uses ${kind}`,
    );
  }
  const state: Float32Array[] = [];
  const old = st.tensors.get("momentum");
  if (old) state.push(toFloat32(old));
  for (let i = 0; st.tensors.has(`state${i}`); i++) {
    const t = st.tensors.get(`state${i}`)!;
    if (t.shape.join() !== shape.join()) {
      throw new Error(`${path}: state${i} is [${t.shape}], expected [${shape}]`);
    }
    state.push(toFloat32(t));
  }
  return {
    ctx: toFloat32(c),
    state,
    steps: Number(meta.steps ?? 0),
    epoch: Number(meta.epoch),
    epochs: JSON.parse(meta.epochs ?? "[]"),
  };
}
