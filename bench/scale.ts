// Stage 2 at ImageNet's scale: full-batch epochs of tuneOnFeatures (src/cbpt/tune.ts, the text
// tower in class chunks) on a random checkpoint of a real architecture, C synthetic class names
// of 1–3 whole words of CLIP's vocabulary (prompts of typical length) and synthetic cached image
// features (random unit vectors: the image tower runs once a run and is not what this times).
// CoOp's recipe otherwise (SGD, 16 context vectors, anchor L_3), one view, batch = every shot.
//
// Prints seconds per epoch (the first epoch compiles kernels; with --epochs ≥ 2 the mean of the
// later ones is what counts), the buffer pool's high-water mark (weights and cached features
// included) and what a step adds to it, the largest binding, and the paper's setting projected
// from the measured epoch: 1,000 classes × 16 shots, 50 epochs, either full batches (one step,
// one text pass an epoch: 50 steps) or CoOp's batches of 32 (500 steps an epoch, each a whole
// text pass over the 1,000 classes: 25,000 steps). With --classes other than 1000 the
// projection scales the step linearly in the class count (the text tower's share; the
// [batch, C] logits grow faster but cost little), and says so. Stage 2 also runs the image
// tower once over every shot, clean and triggered, per cached view: --image-probe N images time
// it (0: skip) and project that for the 16,000 shots.
//
// Usage: deno run -A bench/scale.ts [--arch ViT-B/32] [--classes 1000] [--shots 16]
//        [--epochs 1] [--chunk 0 (auto)] [--n-ctx 16] [--image-probe 8] [--model DIR] [--json]

import { parseFlags } from "../src/cli/common.ts";
import {
  CLIP_ARCHS,
  type ClipArchName,
  ClipTokenizer,
  loadClip,
  memoryStats,
  runWithGpu,
  Tensor,
} from "../mod.ts";
import { randomCheckpoint } from "./random_checkpoint.ts";
import { rt } from "../src/gpu/runtime.ts";
import { mulberry32 } from "../src/io/rng.ts";
import { imageFeatures } from "../src/clip/pixels.ts";
import {
  classChunkSize,
  initialContext,
  promptChunks,
  promptTokens,
  textBytesPerPrompt,
} from "../src/cbpt/prompts.ts";
import { TUNE_DEFAULTS, tuneOnFeatures } from "../src/cbpt/tune.ts";

const { values } = parseFlags({
  args: Deno.args,
  options: {
    arch: { type: "string", default: "ViT-B/32" },
    classes: { type: "string", default: "1000" },
    shots: { type: "string", default: "16" },
    epochs: { type: "string", default: "1" },
    chunk: { type: "string", default: "0" },
    "n-ctx": { type: "string", default: "16" },
    "image-probe": { type: "string", default: "8" },
    model: { type: "string" },
    json: { type: "boolean" },
  },
});

const arch = values.arch as ClipArchName;
if (!(arch in CLIP_ARCHS)) throw new Error(`--arch must be one of ${Object.keys(CLIP_ARCHS)}`);
const C = Number(values.classes), SHOTS = Number(values.shots), EPOCHS = Number(values.epochs);
const M = Number(values["n-ctx"]), CHUNK = Number(values.chunk);
const PROBE = Number(values["image-probe"]);
for (const [k, v] of [["classes", C], ["shots", SHOTS], ["epochs", EPOCHS], ["n-ctx", M]]) {
  if (!(Number.isInteger(v) && (v as number) >= 1)) throw new Error(`--${k} ${v}: expected >= 1`);
}
const MiB = 2 ** 20;
/** The paper's setting (CoOp's ImageNet recipe). */
const PAPER = { classes: 1000, shots: 16, epochs: 50, batch: 32 };
const say = (line: string) => values.json || console.log(line);

async function modelDir(): Promise<string> {
  return values.model ?? await randomCheckpoint(arch);
}

/** C distinct names of 1–3 whole words (45 / 35 / 20 %) that are one token each. */
function classNames(tok: ClipTokenizer, n: number): string[] {
  const rand = mulberry32(16);
  const words: string[] = [];
  for (let id = 256; id < tok.vocabSize - 2 && words.length < 8000; id += 3) {
    const w = tok.decode([id]).trim();
    if (/^[a-z]{3,10}$/.test(w) && tok.encode(w).length === 1) words.push(w);
  }
  const seen = new Set<string>();
  while (seen.size < n) {
    const u = rand(), k = u < 0.45 ? 1 : u < 0.8 ? 2 : 3;
    seen.add(Array.from({ length: k }, () => words[Math.floor(rand() * words.length)]).join(" "));
  }
  return [...seen];
}

/** Random unit rows [n, d]. */
function unitRows(n: number, d: number, seed: number): Tensor {
  const rand = mulberry32(seed), x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (x[i * d + j] = rand() - 0.5) ** 2;
    for (let j = 0; j < d; j++) x[i * d + j] /= Math.sqrt(s);
  }
  return Tensor.from(x, [n, d]);
}

await runWithGpu(async () => {
  const dir = await modelDir();
  const clip = await loadClip(dir);
  const c = clip.config;
  const tok = await ClipTokenizer.bundled();
  const names = classNames(tok, C);
  const tokens = promptTokens(tok, names, M, c.contextLength);
  const N = SHOTS * C, E = c.embedDim;
  const K = classChunkSize(c, tokens, CHUNK, rt().maxBinding);
  const chunks = promptChunks(tokens, K);
  const lengths = names.map((n) => tok.encode(`${n}.`).length + M + 2);
  const meanT = lengths.reduce((a, b) => a + b, 0) / C;
  const meanChunkT = chunks.reduce((a, ch) => a + ch.tokens.shape[1], 0) / chunks.length;
  say(
    `# ${arch} on ${rt().gpu.summary.description}: ${C} classes × ${SHOTS} shots = ${N} ` +
      `images, prompts ${meanT.toFixed(1)} tokens on average (longest ${tokens.shape[1]}), ` +
      `${chunks.length} chunk(s) of ${K} classes (${meanChunkT.toFixed(1)} tokens)`,
  );
  const feats = { clean: unitRows(N, E, 1), trig: unitRows(N, E, 2) };
  const text0 = unitRows(C, E, 3);
  const labels = Array.from({ length: N }, (_, i) => i % C);
  const init = await initialContext(clip, tok, C, M, "random", 1);
  await rt().sync();
  const base = memoryStats().liveBytes;
  rt().pool.resetPeak();
  rt().largestBinding = 0;
  // One step (and one loss readback) an epoch: note when each epoch's losses come back.
  const marks: number[] = [];
  const t0 = performance.now();
  const out = await tuneOnFeatures(
    clip,
    tokens,
    text0,
    init,
    feats,
    labels,
    0,
    { ...TUNE_DEFAULTS, batch: N, epochs: EPOCHS, views: 1, classChunk: CHUNK },
    1,
    {
      readEvery: 1,
      progress: (line) => {
        marks.push(performance.now());
        say(`# ${line}`);
      },
    },
  );
  const stats = memoryStats();
  const largest = rt().largestBinding;
  // The image tower's cost per image (the feature cache's), after a one-image warm-up.
  let perImage = NaN;
  if (PROBE > 0) {
    const R = c.imageResolution, rand = mulberry32(4);
    const pixels = new Float32Array(PROBE * 3 * R * R).map(() => rand());
    imageFeatures(clip, { pixels: pixels.subarray(0, 3 * R * R), n: 1, size: R }).dispose();
    await rt().sync();
    const t1 = performance.now();
    imageFeatures(clip, { pixels, n: PROBE, size: R }).dispose();
    await rt().sync();
    perImage = (performance.now() - t1) / 1000 / PROBE;
  }
  const epochS = marks.map((t, i) => (t - (i ? marks[i - 1] : t0)) / 1000);
  const steady = epochS.length > 1 ? epochS.slice(1) : epochS;
  const perEpoch = steady.reduce((a, b) => a + b, 0) / steady.length;
  const perStep1000 = perEpoch * PAPER.classes / C;
  const stepsPerEpoch32 = Math.ceil(PAPER.classes * PAPER.shots / PAPER.batch);
  const row = {
    arch,
    classes: C,
    shots: SHOTS,
    images: N,
    n_ctx: M,
    prompt_tokens_mean: Number(meanT.toFixed(2)),
    prompt_tokens_max: tokens.shape[1],
    class_chunk: K,
    chunks: chunks.length,
    epochs: EPOCHS,
    epoch_s: epochS.map((s) => Number(s.toFixed(2))),
    seconds_per_epoch: Number(perEpoch.toFixed(2)),
    peak_live_mib: Number((stats.peakLiveBytes / MiB).toFixed(1)),
    before_step_mib: Number((base / MiB).toFixed(1)),
    step_adds_mib: Number(((stats.peakLiveBytes - base) / MiB).toFixed(1)),
    chunk_estimate_mib: Number((K * textBytesPerPrompt(c, meanChunkT) / MiB).toFixed(1)),
    largest_binding_mib: Number((largest / MiB).toFixed(1)),
    binding_limit_mib: Number((rt().maxBinding / MiB).toFixed(1)),
    final_loss: out.epochs.at(-1)?.total ?? null,
    projected_from_classes: C,
    paper_full_batch_s: Number((perStep1000 * PAPER.epochs).toFixed(0)),
    paper_batch32_s: Number((perStep1000 * PAPER.epochs * stepsPerEpoch32).toFixed(0)),
    paper_batch32_steps: PAPER.epochs * stepsPerEpoch32,
    image_s: Number.isNaN(perImage) ? null : Number(perImage.toFixed(3)),
    paper_image_cache_s_per_view: Number.isNaN(perImage)
      ? null
      : Number((perImage * 2 * PAPER.classes * PAPER.shots).toFixed(0)),
    adapter: rt().gpu.summary.description,
  };
  if (values.json) console.log(JSON.stringify(row));
  else {
    const h = (s: number) => `${(s / 3600).toFixed(1)} h`;
    const scaled = C === PAPER.classes ? "" : ` (scaled linearly from ${C} classes)`;
    console.log(
      `epoch: ${row.seconds_per_epoch} s (each: ${row.epoch_s.join(", ")} s); pool peak ` +
        `${row.peak_live_mib} MiB, of which the step ${row.step_adds_mib} MiB (one chunk's ` +
        `estimate ${row.chunk_estimate_mib} MiB); largest binding ${row.largest_binding_mib} ` +
        `MiB (limit ${row.binding_limit_mib})`,
    );
    console.log(
      `paper's setting (1,000 classes × 16 shots, 50 epochs)${scaled}: full batches ` +
        `${h(row.paper_full_batch_s)} (50 steps); batches of 32 ${h(row.paper_batch32_s)} ` +
        `(${row.paper_batch32_steps} steps)`,
    );
    if (row.image_s !== null) {
      console.log(
        `image tower: ${row.image_s} s an image, so caching the features of 16,000 shots, ` +
          `clean and triggered, takes ${h(row.paper_image_cache_s_per_view!)} a view`,
      );
    }
  }
  for (const t of [feats.clean, feats.trig, text0]) t.dispose();
  clip.dispose();
});
