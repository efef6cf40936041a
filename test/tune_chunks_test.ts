// Stage 2 with the text tower in class chunks (src/cbpt/tune.ts's header): the same context
// gradient, prompts and losses as one pass over every class, on a tiny random CLIP with CLIP's
// tokenizer and class names of different token lengths.

import assert from "node:assert/strict";
import { join } from "node:path";
import { initGpu, noGrad, readTensors, Tensor } from "../mod.ts";
import { loadClip } from "../src/clip/index.ts";
import type { Clip } from "../src/clip/model.ts";
import { makeRandomClip } from "../src/clip/random.ts";
import { ONE_TEMPLATE } from "../src/clip/templates.ts";
import { ClipTokenizer } from "../src/clip/tokenizer.ts";
import { zeroShotClassifier } from "../src/clip/zeroshot.ts";
import {
  classChunkSize,
  initialContext,
  promptChunks,
  promptFeatures,
  promptTokens,
} from "../src/cbpt/prompts.ts";
import { type ThirdLoss, TUNE_DEFAULTS, tuneOnFeatures } from "../src/cbpt/tune.ts";
import { fixturesDir } from "../src/lab/demo.ts";
import { FMNIST_CLASSES } from "../src/lab/fmnist.ts";
import { randn, rng } from "./helpers.ts";

await initGpu();

// 12 classes of 1 to 9 tokens (with the fixture's small vocabulary): chunks of 5 are cut to
// different lengths.
const NAMES = [...FMNIST_CLASSES, "red bag", "great white shark"];
const N_CTX = 4, SHOTS = 2, VIEWS = 2;

async function tinyClip(): Promise<{ clip: Clip; tok: ClipTokenizer; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "antidote-chunks-" });
  const tok = await ClipTokenizer.fromDir(join(fixturesDir(), "clean"));
  await makeRandomClip({
    arch: "tiny",
    format: "hf",
    out: dir,
    seed: 5,
    config: { vocabSize: tok.vocabSize, contextLength: 20 },
  });
  return { clip: await loadClip(dir), tok, dir };
}

/** Random unit rows [n, d]. */
function unitRows(seed: number, n: number, d: number): Tensor {
  const x = randn(rng(seed), n * d);
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * d, (i + 1) * d);
    const s = Math.hypot(...row);
    row.forEach((v, j) => (row[j] = v / s));
  }
  return Tensor.from(x, [n, d]);
}

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

Deno.test("class chunks: prompts cut per chunk, no-tape features equal one pass's", async () => {
  const { clip, tok, dir } = await tinyClip();
  const tokens = promptTokens(tok, NAMES, N_CTX, clip.config.contextLength);
  const chunks = promptChunks(tokens, 5);
  assert.deepEqual(chunks.map((c) => [c.start, c.end]), [[0, 5], [5, 10], [10, 12]]);
  const T = tokens.shape[1];
  assert.ok(chunks[0].tokens.shape[1] < T, "the short names' chunk is cut shorter");
  assert.equal(chunks[2].tokens.shape[1], T, "the longest name sets the last chunk's length");
  assert.equal(classChunkSize(clip.config, tokens), NAMES.length, "few classes: one pass");
  assert.equal(classChunkSize(clip.config, tokens, 5), 5);
  assert.equal(classChunkSize(clip.config, tokens, 99), NAMES.length);
  assert.throws(() => classChunkSize(clip.config, tokens, 2.5), /class chunk/);
  const init = await initialContext(clip, tok, NAMES.length, N_CTX, "random", 3);
  const ctx = Tensor.from(init, [NAMES.length, N_CTX, clip.config.transformerWidth]);
  const [one, chunked] = await readTensors(
    noGrad(() => [promptFeatures(clip, ctx, tokens), promptFeatures(clip, ctx, tokens, 5)]),
  );
  assert.ok(maxDiff(one, chunked) < 1e-6, `features differ by ${maxDiff(one, chunked)}`);
  clip.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("class chunks: stage 2's context gradient, prompts and losses equal one pass's", async () => {
  const { clip, tok, dir } = await tinyClip();
  const C = NAMES.length, N = C * SHOTS, E = clip.config.embedDim;
  const tokens = promptTokens(tok, NAMES, N_CTX, clip.config.contextLength);
  const text0 = zeroShotClassifier(clip, tok, NAMES, ONE_TEMPLATE);
  const init = await initialContext(clip, tok, C, N_CTX, "random", 3);
  const labels = Array.from({ length: N }, (_, i) => i % C);
  const feats = { clean: unitRows(1, VIEWS * N, E), trig: unitRows(2, VIEWS * N, E) };
  const run = (third: ThirdLoss, classChunk: number, over: object) =>
    tuneOnFeatures(clip, tokens, text0, init, feats, labels, 4, {
      ...TUNE_DEFAULTS,
      third,
      lambda3: 2,
      views: VIEWS,
      warmupEpochs: 0,
      classChunk,
      ...over,
    }, 7);
  for (const third of ["anchor", "margin", "kl"] as const) {
    // One plain SGD step at lr 1 from the initial context: ctx = init - grad.
    const plain = { optimizer: "sgd", lr: 1, momentum: 0, weightDecay: 0, batch: N, epochs: 1 };
    const grad = async (k: number) => (await run(third, k, plain)).ctx.map((v, i) => init[i] - v);
    const g1 = await grad(0), g5 = await grad(5);
    const scale = maxAbs(g1);
    assert.ok(scale > 1e-4, `${third}: the gradient is not trivially zero (${scale})`);
    assert.ok(
      maxDiff(g1, g5) <= 1e-5 * scale,
      `${third}: gradients differ by ${maxDiff(g1, g5)} (largest ${scale})`,
    );
    // Three epochs of two steps with momentum and weight decay.
    const sgd = { lr: 0.5, batch: N / 2, epochs: 3 };
    const [a, b] = [await run(third, 0, sgd), await run(third, 5, sgd)];
    assert.ok(maxDiff(a.ctx, b.ctx) < 1e-5, `${third}: prompts differ by ${maxDiff(a.ctx, b.ctx)}`);
    assert.ok(maxDiff(a.ctx, Float32Array.from(init)) > 1e-3, `${third}: the prompts moved`);
    assert.equal(b.epochs.length, 3);
    a.epochs.forEach((e, i) => {
      for (const k of ["clean", "bd", "third", "total"] as const) {
        const d = Math.abs(e[k] - b.epochs[i][k]);
        assert.ok(d <= 1e-5 * Math.max(1, Math.abs(e[k])), `${third} epoch ${i + 1} ${k}: ${d}`);
      }
    });
  }
  feats.clean.dispose();
  feats.trig.dispose();
  text0.dispose();
  clip.dispose();
  await Deno.remove(dir, { recursive: true });
});
