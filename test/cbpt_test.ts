// CBPT: losses against hand-computed values, stage 1 on a toy backdoored CLIP, resume identity,
// prompt files, and what stage 2 achieves on the toy model (stated, see the issue note).

import { writeCbptOutputs } from "../src/cli/outputs.ts";
import assert from "node:assert/strict";
import { type ClipTokenizer, initGpu, readTensors, Tensor, tidy } from "../mod.ts";
import type { Clip } from "../src/clip/model.ts";
import {
  anchorLoss,
  classificationLoss,
  consistencyLoss,
  marginLoss,
  triggerInfoNce,
} from "../src/cbpt/losses.ts";
import {
  applyTrigger,
  invertTrigger,
  MASK_TRIGGER_DEFAULTS,
  STOP_WINDOW,
  stopDue,
  TRIGGER_DEFAULTS,
} from "../src/cbpt/trigger.ts";
import { predictClasses } from "../src/clip/pixels.ts";
import { TUNE_DEFAULTS, tunePrompts } from "../src/cbpt/tune.ts";
import { initialContext, promptTokens } from "../src/cbpt/prompts.ts";
import { PurifiedClassifier } from "../src/cbpt/purified.ts";
import { runCbpt } from "../src/cbpt/run.ts";
import { DEMO_TUNE } from "../src/lab/demo.ts";
import { zeroShotClassifier } from "../src/clip/zeroshot.ts";
import { ONE_TEMPLATE } from "../src/clip/templates.ts";
import { rng } from "./helpers.ts";
import {
  addPatch,
  addTrigger,
  plantedPatch,
  plantedTrigger,
  TOY_CLASSES,
  TOY_PATCH_RECIPE,
  TOY_RECIPE,
  TOY_SIZE,
  TOY_TARGET,
  toyBackdooredClip,
  toyImages,
  trainToyClip,
  TRIGGER_AMPLITUDE,
} from "../src/lab/toy_backdoor.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

function unitRows(r: ReturnType<typeof rng>, n: number, d: number): number[][] {
  return Array.from({ length: n }, () => {
    const v = Array.from({ length: d }, () => r.normal());
    const s = Math.hypot(...v);
    return v.map((x) => x / s);
  });
}
const dot = (a: number[], b: number[]) => a.reduce((p, x, i) => p + x * b[i], 0);
const lse = (xs: number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((p, x) => p + Math.exp(x - m), 0));
};
const T = (rows: number[][]) => Tensor.from(rows.flat(), [rows.length, rows[0].length]);
const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

Deno.test("InfoNCE, classification, anchor, margin and KL losses match hand computation", async () => {
  const r = rng(3);
  const B = 5, C = 3, E = 8, tau = 0.1, scale = 20;
  const trig = unitRows(r, B, E), clean = unitRows(r, B, E), text = unitRows(r, C, E);
  const text0 = unitRows(r, C, E);
  const labels = [0, 2, 1, 1, 0], target = 0, margin = 0.1;
  // InfoNCE by the formula in losses.ts
  let nce = 0;
  for (let i = 0; i < B; i++) {
    const pos = trig.map((z, j) => (j === i ? null : dot(trig[i], z) / tau)).filter((v) =>
      v !== null
    ) as number[];
    const neg = [...clean.map((z) => dot(trig[i], z) / tau), dot(trig[i], text[labels[i]]) / tau];
    const denom = lse([...pos, ...neg]);
    nce += -pos.reduce((p, s) => p + s - denom, 0) / (B - 1);
  }
  nce /= B;
  const ce = (img: number[][]) =>
    img.reduce((p, z, i) => {
      const s = text.map((w) => scale * dot(z, w));
      return p + lse(s) - s[labels[i]];
    }, 0) / B;
  const anchor =
    text.reduce((p, w, c) => p + w.reduce((q, x, k) => q + (x - text0[c][k]) ** 2, 0), 0) / C;
  const keep = labels.map((y, i) => (y === target ? -1 : i)).filter((i) => i >= 0);
  const marg = keep.reduce((p, i) => {
    const s = text.map((w) => dot(trig[i], w));
    return p + Math.max(0, s[target] - s[labels[i]] + margin);
  }, 0) / keep.length;
  const kl = clean.reduce((p, z, i) => {
    const a = text.map((w) => scale * dot(z, w)), b = text.map((w) => scale * dot(trig[i], w));
    const la = lse(a), lb = lse(b);
    return p + a.reduce((q, x, c) => q + Math.exp(x - la) * ((x - la) - (b[c] - lb)), 0);
  }, 0) / B;
  const got = tidy(() => {
    const [tz, cz, w, w0] = [T(trig), T(clean), T(text), T(text0)];
    return [
      triggerInfoNce(tz, cz, w, labels, tau),
      classificationLoss(cz, w, labels, scale),
      anchorLoss(w, w0),
      marginLoss(tz, w, labels, target, margin),
      consistencyLoss(cz, tz, w, scale),
    ];
  });
  const v = (await readTensors(got)).map((a) => a[0]);
  close(v[0], nce, 1e-4, "InfoNCE");
  close(v[1], ce(clean), 1e-4, "cross-entropy");
  close(v[2], anchor, 1e-4, "anchor");
  close(v[3], marg, 1e-4, "margin");
  close(v[4], kl, 1e-3, "KL");
  for (const t of got) t.dispose();
});

Deno.test("toy model: stage 1 recovers the planted trigger (its ASR > 90 %) and the target", async () => {
  const { clip, tokenizer } = await toyBackdooredClip();
  const train = toyImages(16, 5), test = toyImages(40, 77);
  const text0 = zeroShotClassifier(clip, tokenizer, TOY_CLASSES, ONE_TEMPLATE);
  const inv = await invertTrigger(clip, train.set, train.labels, text0, {
    ...TRIGGER_DEFAULTS,
    epsilon: TRIGGER_AMPLITUDE,
    steps: 60,
    batch: 48,
  }, 1);
  assert.equal(inv.suspectedTarget, TOY_TARGET);
  const preds = await predictClasses(clip, applyTrigger(inv.trigger, test.set), text0);
  const nonTarget = test.labels.map((y, i) => (y === TOY_TARGET ? -1 : i)).filter((i) => i >= 0);
  const asr = nonTarget.filter((i) => preds[i] === TOY_TARGET).length / nonTarget.length;
  console.log(
    `  inverted trigger: ASR ${(100 * asr).toFixed(1)} %, loss ${inv.losses[0].toFixed(3)} → ${
      inv.losses.at(-1)!.toFixed(3)
    }`,
  );
  assert.ok(asr > 0.9, `ASR of the inverted trigger ${asr}`);
  // the planted trigger itself, for comparison
  const planted = await predictClasses(clip, addTrigger(test.set), text0);
  assert.ok(nonTarget.filter((i) => planted[i] === TOY_TARGET).length / nonTarget.length > 0.9);
  text0.dispose();
});

Deno.test("stage 1: the ε ladder climbs until one class takes min-share of the triggered images", async () => {
  const { clip, tokenizer } = await toyBackdooredClip();
  const train = toyImages(16, 5);
  const text0 = zeroShotClassifier(clip, tokenizer, TOY_CLASSES, ONE_TEMPLATE);
  const lines: string[] = [];
  // The planted trigger has amplitude 0.12: a bound of 0.004 cannot reach it.
  const ladder = [0.001, 0.03, TRIGGER_AMPLITUDE, 0.5];
  const inv = await invertTrigger(
    clip,
    train.set,
    train.labels,
    text0,
    { ...TRIGGER_DEFAULTS, epsilon: 0.004, epsilonLadder: ladder, steps: 60, batch: 48 },
    1,
    undefined,
    (a, next) => lines.push(`${a.epsilon} -> ${next}`),
  );
  const tried = inv.attempts.map((a) => a.epsilon);
  console.log(
    "  " + inv.attempts.map((a) => `ε ${a.epsilon}: ${(100 * a.targetShare).toFixed(0)} %`)
      .join(", "),
  );
  assert.ok(tried.length >= 2, `the ladder climbed: tried ${tried}`);
  assert.deepEqual(
    tried,
    [0.004, ...ladder.slice(1)].slice(0, tried.length),
    "in order, 0.001 skipped",
  );
  for (const a of inv.attempts.slice(0, -1)) {
    assert.ok(a.targetShare < 0.9, `stopped late at ${a.epsilon}`);
  }
  assert.ok(inv.attempts.at(-1)!.targetShare >= 0.9, `no bound reached 90 %: ${tried}`);
  assert.ok(tried.at(-1)! <= TRIGGER_AMPLITUDE, `needed more than the planted amplitude: ${tried}`);
  assert.equal(inv.suspectedTarget, TOY_TARGET);
  assert.ok(inv.trigger.kind === "additive" && inv.trigger.epsilon === tried.at(-1));
  assert.deepEqual(lines, tried.slice(0, -1).map((e, i) => `${e} -> ${tried[i + 1]}`), "climbs");
  // Unreachable share: every bound is tried and the most concentrated one kept.
  const all = await invertTrigger(clip, train.set, train.labels, text0, {
    ...TRIGGER_DEFAULTS,
    epsilon: 0.004,
    epsilonLadder: [0.03],
    minShare: 1.5,
    steps: 20,
    batch: 48,
  }, 1);
  assert.equal(all.attempts.length, 2);
  assert.equal(all.targetShare, Math.max(...all.attempts.map((a) => a.targetShare)));
  text0.dispose();
});

Deno.test("stopDue: one class holds the share over the window and the loss has flattened", () => {
  const w = 4, o = { window: w, share: 0.9, tolerance: 0.05 };
  const hits = (n: number, c: number) => Array.from({ length: n }, () => [c, c, c, c, c]);
  // 10 → 2 over the first window, then flat: the last window fell 0.01 ≤ 0.05 × 8.
  const flat = [10, 6, 4, 2, 2.02, 2.01, 2.0, 2.01, 2.0, 1.99, 2.0, 2.0];
  assert.equal(stopDue(flat, hits(12, 3), o), true);
  assert.equal(stopDue(flat, hits(12, 3), { ...o, target: 3 }), true);
  assert.equal(stopDue(flat, hits(12, 3), { ...o, target: 1 }), false, "the aimed class lacks it");
  assert.equal(stopDue(flat, hits(12, 3), { ...o, tolerance: 0 }), false, "0: never");
  assert.equal(stopDue(flat.slice(0, 7), hits(7, 3), o), false, "two windows first");
  // Two windows in, the first still holding the steep fall: not yet.
  assert.equal(stopDue(flat.slice(0, 8), hits(8, 3), o), false);
  // Still falling: the last window fell 1.5 > 0.05 × 8.5.
  assert.equal(stopDue([10, 8, 6, 4, 3, 2.5, 2, 1.5], hits(8, 3), o), false);
  // 4 of 5 images a step in class 3 (80 % < 90 %) over the last window.
  const mixed = [...hits(8, 3), ...Array.from({ length: 4 }, () => [3, 3, 3, 3, 0])];
  assert.equal(stopDue(flat, mixed, o), false);
  assert.equal(stopDue(flat, mixed, { ...o, share: 0.8 }), true);
  // A loss that never fell (or rose) is flat.
  assert.equal(stopDue([2, 2, 2, 2, 2, 2.1, 2.2, 2.3], hits(8, 3), o), true);
  assert.equal(STOP_WINDOW, 16);
});

Deno.test("stage 1 stops early on the toy backdoor: same steps up to the stop, same target", async () => {
  const { clip, tokenizer } = await toyBackdooredClip();
  const train = toyImages(16, 5), test = toyImages(40, 77);
  const text0 = zeroShotClassifier(clip, tokenizer, TOY_CLASSES, ONE_TEMPLATE);
  const settings = { ...TRIGGER_DEFAULTS, epsilon: TRIGGER_AMPLITUDE, steps: 160, batch: 48 };
  const early = await invertTrigger(clip, train.set, train.labels, text0, settings, 1);
  const full = await invertTrigger(clip, train.set, train.labels, text0, {
    ...settings,
    flatTolerance: 0,
  }, 1);
  console.log(
    `  stopped after ${early.steps} of 160 steps (loss ${early.losses.at(-1)!.toFixed(3)}; ` +
      `all 160: ${full.losses.at(-1)!.toFixed(3)})`,
  );
  assert.equal(full.steps, 160);
  assert.equal(full.attempts[0].steps, 160);
  assert.ok(early.steps < 160 && early.steps % STOP_WINDOW === 0, `steps ${early.steps}`);
  assert.equal(early.attempts[0].steps, early.steps);
  assert.equal(early.losses.length, early.steps);
  assert.deepEqual(early.losses, full.losses.slice(0, early.steps), "the same run, cut short");
  assert.equal(early.suspectedTarget, TOY_TARGET);
  assert.equal(full.suspectedTarget, TOY_TARGET);
  const preds = await predictClasses(clip, applyTrigger(early.trigger, test.set), text0);
  const nonTarget = test.labels.map((y, i) => (y === TOY_TARGET ? -1 : i)).filter((i) => i >= 0);
  const asr = nonTarget.filter((i) => preds[i] === TOY_TARGET).length / nonTarget.length;
  assert.ok(asr > 0.9, `ASR of the early-stopped trigger ${asr}`);
  text0.dispose();
});

Deno.test("stage 1: a non-finite loss stops the run naming its step", async () => {
  const { clip, tokenizer } = await toyBackdooredClip();
  const train = toyImages(16, 5);
  const text0 = zeroShotClassifier(clip, tokenizer, TOY_CLASSES, ONE_TEMPLATE);
  const bad = Tensor.from(new Float32Array(text0.size).fill(NaN), [...text0.shape]);
  await assert.rejects(
    invertTrigger(clip, train.set, train.labels, bad, { ...TRIGGER_DEFAULTS, steps: 20 }, 1),
    /trigger inversion: loss became NaN at step 1$/,
  );
  bad.dispose();
  text0.dispose();
});

Deno.test("toy patch backdoor: the mask trigger finds the target and sits on the patch", async () => {
  const { clip, tokenizer } = await trainToyClip({
    ...TOY_RECIPE,
    trigger: "patch",
    cleanSteps: 100,
    poisonSteps: 200,
    poison: 0.2,
  });
  const train = toyImages(16, 5), test = toyImages(40, 77);
  const text0 = zeroShotClassifier(clip, tokenizer, TOY_CLASSES, ONE_TEMPLATE);
  const nonTarget = test.labels.map((y, i) => (y === TOY_TARGET ? -1 : i)).filter((i) => i >= 0);
  const asrOf = (preds: number[]) =>
    nonTarget.filter((i) => preds[i] === TOY_TARGET).length / nonTarget.length;
  assert.ok(
    asrOf(await predictClasses(clip, addPatch(test.set), text0)) > 0.9,
    "the patch backdoor works",
  );
  const inv = await invertTrigger(clip, train.set, train.labels, text0, {
    ...MASK_TRIGGER_DEFAULTS,
    steps: 80,
    batch: 48,
  }, 1);
  assert.equal(inv.suspectedTarget, TOY_TARGET);
  const asr = asrOf(await predictClasses(clip, applyTrigger(inv.trigger, test.set), text0));
  assert.ok(inv.trigger.kind === "mask");
  const planted = plantedPatch();
  let inside = 0, outside = 0;
  inv.trigger.mask.forEach((m, i) => (planted.mask[i] ? (inside += m) : (outside += m)));
  const nIn = planted.mask.reduce((a, b) => a + b, 0);
  inside /= nIn;
  outside /= planted.mask.length - nIn;
  console.log(
    `  mask trigger: ASR ${(100 * asr).toFixed(1)} %, mean mask on the patch ${
      inside.toFixed(3)
    }, elsewhere ${outside.toFixed(3)}`,
  );
  assert.ok(asr > 0.9, `ASR of the inverted mask trigger ${asr}`);
  // Measured: 0.62 on the patch, 0.29 elsewhere (80 steps). A mask blind to the patch gives ~1×.
  assert.ok(inside > 1.5 * outside, "the mask concentrates on the planted patch");
  text0.dispose();
  clip.dispose();
});

/** What the toy CBPT runs share: the toy's classes, its 16-shot and test sets, seed 1. */
function toyCbpt(clip: Clip, tokenizer: ClipTokenizer, outDir: string) {
  const sets = { train: toyImages(16, 5), test: toyImages(50, 77) };
  return {
    clip,
    tokenizer,
    classNames: TOY_CLASSES,
    ...sets,
    ctxInit: "random" as const,
    seed: 1,
    checkpoint: `${outDir}/checkpoint.safetensors`,
  };
}

Deno.test("toy patch backdoor: stage 2 drives ASR from > 90 % to < 10 %, CA drops < 5 points", async () => {
  // Stage 2 alone, against the planted patch (stage 1 has its own tests): the small-model recipe
  // (Adam on full batches, demo.ts) with λ_bd 0.3 and no third loss. Measured: CA 99.3 → 96.0 %,
  // ASR 100 → 4 %. SGD (lr 0.05, 20 epochs of 16, 4 context vectors) left ASR at 57–61 % here.
  const { clip, tokenizer } = await trainToyClip(TOY_PATCH_RECIPE);
  const out = await Deno.makeTempDir();
  const { report, classifier } = await runCbpt({
    ...toyCbpt(clip, tokenizer, out),
    attack: { name: "planted patch", target: TOY_TARGET, apply: addPatch },
    trigger: TRIGGER_DEFAULTS,
    tune: { ...TUNE_DEFAULTS, ...DEMO_TUNE, lambdaBd: 0.3, third: "none" },
    nCtx: 16,
    knownTrigger: { trigger: plantedPatch(), target: TOY_TARGET },
    progress: () => {},
  });
  const pct = (x: number) => (100 * x).toFixed(1);
  console.log(
    `  CA ${pct(report.ca_before!)} → ${pct(report.ca_after!)} %, ` +
      `ASR ${pct(report.asr_before!)} → ${pct(report.asr_after!)} %`,
  );
  assert.ok(report.asr_before! > 0.9, `the toy's backdoor works: ASR ${report.asr_before}`);
  assert.ok(report.asr_after! < 0.1, `ASR after stage 2: ${report.asr_after}`);
  assert.ok(
    report.ca_before! - report.ca_after! < 0.05,
    `CA ${report.ca_before} → ${report.ca_after}`,
  );
  classifier.dispose();
  clip.dispose();
  await Deno.remove(out, { recursive: true });
});

/** The stage-2 tests' setup: the toy model, 8 images per class, 4 context vectors, a fixed trigger. */
async function stage2Toy() {
  const { clip, tokenizer } = await toyBackdooredClip();
  return {
    clip,
    train: toyImages(8, 5),
    text0: zeroShotClassifier(clip, tokenizer, TOY_CLASSES, ONE_TEMPLATE),
    tokens: promptTokens(tokenizer, TOY_CLASSES, 4, clip.config.contextLength),
    init: await initialContext(clip, tokenizer, 3, 4, "random", 1),
    trigger: {
      kind: "additive" as const,
      size: 16,
      epsilon: 0.1,
      delta: new Float32Array(3 * 256).fill(0.05),
    },
  };
}

for (const optimizer of ["sgd", "adam"] as const) {
  Deno.test(`stage 2 (${optimizer}): an interrupted run resumed from its checkpoint gives the same prompts`, async () => {
    const { clip, train, text0, tokens, init, trigger } = await stage2Toy();
    const lr = optimizer === "adam" ? 0.01 : 0.05;
    const s = { ...TUNE_DEFAULTS, optimizer, epochs: 4, views: 2, batch: 8, lr };
    const dir = await Deno.makeTempDir();
    const run = (ck: string, stop?: number, resume = false) =>
      tunePrompts(clip, tokens, text0, init, train.set, train.labels, trigger, 0, s, 7, {
        checkpoint: `${dir}/${ck}`,
        resume,
        stopAfterEpochs: stop,
      });
    const full = await run("a.safetensors");
    const part = await run("b.safetensors", 2);
    assert.equal(part.epochs.length, 2);
    const resumed = await run("b.safetensors", undefined, true);
    assert.equal(resumed.resumedFrom, 2);
    assert.deepEqual(resumed.epochs.map((e) => e.total), full.epochs.map((e) => e.total));
    let maxDiff = 0;
    for (let i = 0; i < full.ctx.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(full.ctx[i] - resumed.ctx[i]));
    }
    assert.equal(maxDiff, 0, `resumed prompts differ by ${maxDiff}`);
    // A checkpoint of one optimiser does not resume the other.
    const other = { ...s, optimizer: optimizer === "adam" ? "sgd" as const : "adam" as const };
    await assert.rejects(
      tunePrompts(clip, tokens, text0, init, train.set, train.labels, trigger, 0, other, 7, {
        checkpoint: `${dir}/b.safetensors`,
        resume: true,
      }),
      /checkpoint was made with --optimizer/,
    );
    text0.dispose();
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("stage 2: batched loss readback and sparse checkpoints give the same prompts and losses", async () => {
  const { clip, train, text0, tokens, init, trigger } = await stage2Toy();
  // 3 steps per epoch, 5 epochs: reads every 16 steps span epochs.
  const s = { ...TUNE_DEFAULTS, optimizer: "adam" as const, epochs: 5, views: 2, batch: 8 };
  const dir = await Deno.makeTempDir();
  const run = (io: { readEvery?: number; checkpointEveryMs?: number }, ck: string) =>
    tunePrompts(clip, tokens, text0, init, train.set, train.labels, trigger, 0, s, 3, {
      ...io,
      checkpoint: `${dir}/${ck}`,
    });
  const each = await run({ readEvery: 1, checkpointEveryMs: 0 }, "a.safetensors");
  const batched = await run({ readEvery: 16, checkpointEveryMs: 60_000 }, "b.safetensors");
  assert.equal(batched.epochs.length, 5);
  assert.deepEqual(batched.epochs, each.epochs);
  assert.deepEqual(batched.ctx, each.ctx);
  text0.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("stage 2: a non-finite loss stops the run naming the loss and step, and saves no checkpoint", async () => {
  const { clip, train, text0, tokens, init, trigger } = await stage2Toy();
  init[5] = NaN; // a corrupt context vector: every loss of the first step is NaN
  const s = { ...TUNE_DEFAULTS, optimizer: "adam" as const, epochs: 3, views: 1, batch: 8 };
  const dir = await Deno.makeTempDir();
  await assert.rejects(
    tunePrompts(clip, tokens, text0, init, train.set, train.labels, trigger, 0, s, 7, {
      checkpoint: `${dir}/ck.safetensors`,
    }),
    /L_clean became NaN at epoch 1, step 1 \(global step 1\)/,
  );
  await assert.rejects(Deno.stat(`${dir}/ck.safetensors`), Deno.errors.NotFound);
  text0.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("toy model: CBPT end to end writes its files and lowers ASR (figures in the log)", async () => {
  const { clip, tokenizer } = await toyBackdooredClip();
  const out = await Deno.makeTempDir();
  const result = await runCbpt({
    ...toyCbpt(clip, tokenizer, out),
    attack: { name: "planted", target: TOY_TARGET, apply: (s) => addTrigger(s) },
    trigger: { ...TRIGGER_DEFAULTS, epsilon: TRIGGER_AMPLITUDE, steps: 60, batch: 48 },
    tune: {
      ...TUNE_DEFAULTS,
      epochs: 20,
      views: 2,
      batch: 16,
      lr: 0.05,
      third: "margin",
      lambda3: 4,
    },
    nCtx: 4,
  });
  const { report, classifier } = result;
  console.log(
    `  CA ${report.ca_before} → ${report.ca_after}, ASR ${report.asr_before} → ${report.asr_after}`,
  );
  const written = await writeCbptOutputs(out, result);
  for (
    const f of ["prompts.safetensors", "trigger.png", "report.json", "losses.png", "losses.svg"]
  ) {
    assert.ok(written.includes(`${out}/${f}`), f);
    assert.ok((await Deno.stat(`${out}/${f}`)).size > 0, f);
  }
  // trigger.png is the figure: the trigger beside shots of other classes than the suspect,
  // clean and triggered, with where they go before and after.
  const ex = result.examples;
  assert.ok(ex.labels.length >= 1 && ex.labels.every((y) => y !== report.suspected_target.index));
  assert.equal(ex.triggered.n, ex.labels.length);
  for (const k of ["clean", "triggered"] as const) {
    assert.equal(ex.before[k].length, ex.labels.length);
    assert.equal(ex.after[k].length, ex.labels.length);
  }
  const { sharp } = await import("../src/io/sharp.ts");
  const fig = await sharp(`${out}/trigger.png`).metadata();
  assert.ok(fig.width! > 3 * 112 && fig.height! > 2 * 112, `figure ${fig.width}×${fig.height}`);
  assert.ok(report.asr_before! > 0.9, "the toy backdoor works");
  // Measured on this toy model: ASR 100 % → ~10-20 %, CA 99 % → ~75-80 % (the targets,
  // ASR < 10 % with < 5 points of CA, are not met here yet; see docs/method.md).
  assert.ok(report.asr_after! < report.asr_before! - 0.5, `ASR ${report.asr_after}`);
  // The saved prompts reload to the same classifier, and refuse another model.
  const again = await PurifiedClassifier.load(clip, tokenizer, `${out}/prompts.safetensors`);
  const px = toyImages(4, 9).set;
  const a = await classifier.classify({ pixels01: px.pixels, n: px.n });
  const b = await again.classify({ pixels01: px.pixels, n: px.n });
  assert.deepEqual(b.labels, a.labels);
  const fp = clip.fingerprint;
  clip.fingerprint = "00000000";
  await assert.rejects(
    () => PurifiedClassifier.load(clip, tokenizer, `${out}/prompts.safetensors`),
    /tuned on another model/,
  );
  clip.fingerprint = fp;
  classifier.dispose();
  again.dispose();
  await Deno.remove(out, { recursive: true });
});

Deno.test("a known trigger skips stage 1: stage 2 tunes against it (the oracle bound)", async () => {
  const { clip, tokenizer } = await toyBackdooredClip();
  const out = await Deno.makeTempDir();
  const known = {
    kind: "additive" as const,
    size: TOY_SIZE,
    epsilon: TRIGGER_AMPLITUDE,
    delta: plantedTrigger(),
  };
  const { report, classifier } = await runCbpt({
    clip,
    tokenizer,
    classNames: TOY_CLASSES,
    train: toyImages(8, 5),
    trigger: TRIGGER_DEFAULTS,
    tune: { ...TUNE_DEFAULTS, epochs: 2, views: 1, batch: 12 },
    nCtx: 4,
    ctxInit: "random",
    seed: 1,
    knownTrigger: { trigger: known, target: TOY_TARGET },
  });
  assert.deepEqual(report.trigger.losses, [], "stage 1 did not run");
  assert.equal(report.suspected_target.index, TOY_TARGET);
  assert.deepEqual(report.settings.trigger, { known: "additive" });
  // The planted trigger sends (nearly) every few-shot image to the target.
  assert.ok(report.suspected_target.share > 0.9, `share ${report.suspected_target.share}`);
  classifier.dispose();
  await Deno.remove(out, { recursive: true });
});
