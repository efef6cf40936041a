// Stage 1's per-class target search and the checks that CLIPs unlike the lab's need: the prompt
// context checked before any work, image batches of any size in chunks, and a planted target
// that is not the class a universal perturbation drifts to.

import assert from "node:assert/strict";
import { join } from "node:path";
import { initGpu } from "../mod.ts";
import { loadClip } from "../src/clip/index.ts";
import type { Clip } from "../src/clip/model.ts";
import { CLIP_ARCHS } from "../src/clip/config.ts";
import { ONE_TEMPLATE } from "../src/clip/templates.ts";
import { ClipTokenizer } from "../src/clip/tokenizer.ts";
import { zeroShotClassifier } from "../src/clip/zeroshot.ts";
import { imageChunk } from "../src/clip/pixels.ts";
import { fitContext } from "../src/cbpt/prompts.ts";
import { PurifiedClassifier } from "../src/cbpt/purified.ts";
import { holdOutSplit, pickCandidate } from "../src/cbpt/recipe.ts";
import { specAttack } from "../src/lab/spec_attack.ts";
import {
  anomalyIndex,
  crossingLevel,
  inversionPattern,
  MAD_FLOORS,
  parseSearchPatterns,
  pooledAnomaly,
  projectMaskArea,
  type SearchPattern,
  searchTargets,
  type ShapeEvidence,
  strongestSearch,
  suspectScore,
  TARGET_SEARCH_DEFAULTS,
  targetVerdict,
} from "../src/cbpt/targets.ts";
import {
  expandPattern,
  invertTrigger,
  ladderShare,
  patternShape,
  RESTRICTED_MIN_SHARE,
  TRIGGER_DEFAULTS,
} from "../src/cbpt/trigger.ts";
import { fixturesDir, loadFixture } from "../src/lab/demo.ts";
import { rt } from "../src/gpu/runtime.ts";
import { FMNIST_CLASSES } from "../src/lab/fmnist.ts";
import { makeRandomClip } from "../src/clip/random.ts";
import { loadTokenizer } from "../src/cli/common.ts";

await initGpu();
const root = new URL("../", import.meta.url).pathname;

Deno.test("crossingLevel interpolates the logit of the share between rungs", () => {
  assert.equal(crossingLevel([0.6], 0.5, 100), 0);
  assert.equal(crossingLevel([0.1, 0.2], 0.5, 100), 2, "never crossed: past the last rung");
  // Symmetric logits around 0.5 cross half-way.
  assert.ok(Math.abs(crossingLevel([0.01, 0.2, 0.8], 0.5, 100) - 1.5) < 1e-9);
  const x = crossingLevel([0.05, 0.3, 0.99], 0.5, 144);
  assert.ok(x > 1 && x < 1.5, `${x}`);
});

Deno.test("anomalyIndex: the class that needs much less stands out, a flat field does not", () => {
  const a = anomalyIndex([1.6, 2.5, 2.9, 2.9, 2.5, 2.7, 2.4, 2.7, 2.5, 2.7]);
  assert.ok(a[0] > 3, `${a[0]}`);
  assert.ok(a.slice(1).every((x) => x < 2), `${a}`);
  const flat = anomalyIndex([3, 3, 3, 3, 3]);
  assert.ok(flat.every((x) => x === 0));
});

/** One shape's evidence from its anomaly indices (its cheapest class: the highest index). */
function shape(pattern: SearchPattern, anomaly: number[]): ShapeEvidence {
  return { pattern, anomaly, cheapest: anomaly.indexOf(Math.max(...anomaly)) };
}

Deno.test("pooling the shapes: a class cheap under both counts more; only a cheapest class is a suspect", () => {
  const full = shape("full", [1.0, 0.2, 1.5, 0]);
  const columns = shape("columns", [1.1, 1.2, -0.5, 0]);
  assert.equal(pooledAnomaly([full, columns], 0), 2.1 / Math.SQRT2);
  // Class 0 leads neither shape: its pooled 1.48 beats the columns suspect's 1.2, yet it is no
  // suspect; class 2's own 1.5 beats its pooled 0.71.
  assert.equal(suspectScore([full, columns], full), 1.5);
  assert.equal(suspectScore([full, columns], columns), 1.2);
  assert.equal(strongestSearch([full, columns]), full);
  // One shape: the pooled index is the shape's own.
  assert.equal(suspectScore([full], full), 1.5);
  // Both shapes single out class 0: pooled, it crosses the threshold neither reaches alone.
  const f = shape("full", [1.45, 0.2, 0]), c = shape("columns", [1.45, 0.3, 0]);
  const v = targetVerdict(strongestSearch([f, c]), 2, [f, c]);
  assert.deepEqual(v, { verdict: "backdoored", target: 0, score: 2.9 / Math.SQRT2 });
  assert.equal(targetVerdict(f, 2).verdict, "no evidence", "either shape alone: no evidence");
});

Deno.test("pooling the shapes ranks the torch Blended model above every clean model of the zoo", async () => {
  // The levels each scan measured (docs/scan.json, scan-zoo.ts): family2-blended-pullover's
  // pullover is the cheapest class of both shapes but stands out in neither (1.00, 1.11), under
  // three clean models' sinks (up to 1.35). No clean model's cheapest class is the same under both
  // shapes, so pooling lifts the planted class above them all.
  const zoo = JSON.parse(await Deno.readTextFile(join(root, "docs/scan.json"))) as {
    rows: { name: string; target: string | null; probes: Record<string, { levels: object }> }[];
  };
  const score = (name: string) => {
    const row = zoo.rows.find((r) => r.name === name)!;
    const shapes = (["full", "columns"] as const).map((p) => {
      const levels = Object.values(row.probes[p].levels) as number[];
      return shape(p, anomalyIndex(levels, MAD_FLOORS[p]));
    });
    return targetVerdict(strongestSearch(shapes), 2, shapes).score;
  };
  const clean = zoo.rows.filter((r) => r.target === null).map((r) => score(r.name));
  assert.ok(clean.length >= 7);
  const blended = score("family2-blended-pullover");
  assert.ok(clean.every((s) => s < blended), `blended ${blended} vs clean ${clean}`);
  assert.ok(clean.every((s) => s < 2), `no false alarm: ${clean}`);
});

Deno.test("fitContext: n_ctx is picked for a short text context; one that cannot fit fails", async () => {
  const tok = await ClipTokenizer.fromDir(join(fixturesDir(), "clean"));
  const longest = Math.max(...FMNIST_CLASSES.map((c) => tok.encode(`${c}.`).length));
  const fit = fitContext(tok, FMNIST_CLASSES, 16, "auto");
  assert.equal(fit.maxNCtx, 16 - 2 - longest);
  assert.equal(fit.nCtx, 8);
  assert.match(fit.note ?? "", /context length is 16/);
  assert.deepEqual(fitContext(tok, FMNIST_CLASSES, 32, "auto"), {
    nCtx: 16,
    maxNCtx: 30 - longest,
  });
  assert.throws(
    () => fitContext(tok, FMNIST_CLASSES, 16, 16),
    /n_ctx 16 does not fit: the prompt for class ".+" would be \d+ tokens .* context length 16/,
  );
  assert.throws(
    () => fitContext(tok, FMNIST_CLASSES, 8, "auto"),
    /"a photo of a .*" is \d+ tokens/,
  );
});

/** A width-128 ViT at 28 px with patch 4 and a 16-token context (random weights). */
async function wideSmallClip(
  visionLayers = 1,
): Promise<{ clip: Clip; tok: ClipTokenizer; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "antidote-w128-" });
  const tok = await ClipTokenizer.fromDir(join(fixturesDir(), "clean"));
  await makeRandomClip({
    arch: "tiny",
    format: "hf",
    out: dir,
    seed: 2,
    config: {
      embedDim: 64,
      imageResolution: 28,
      visionPatchSize: 4,
      visionWidth: 128,
      visionLayers,
      visionHeads: 2,
      contextLength: 16,
      vocabSize: tok.vocabSize,
      transformerWidth: 64,
      transformerHeads: 2,
      transformerLayers: 2,
    },
  });
  await Deno.copyFile(join(fixturesDir(), "clean", "tokenizer.json"), join(dir, "tokenizer.json"));
  return { clip: await loadClip(dir), tok, dir };
}

Deno.test("purify.ts: an n_ctx that cannot fit the model's context fails before any work", async () => {
  const { clip, dir } = await wideSmallClip();
  clip.dispose();
  const classes = join(dir, "classes.txt");
  await Deno.writeTextFile(classes, FMNIST_CLASSES.join("\n"));
  try {
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${root}scripts/purify.ts`,
        "--model",
        dir,
        "--classes",
        classes,
        "--train",
        join(dir, "no-such-folder"),
        "--n-ctx",
        "16",
        "--out",
        join(dir, "out"),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.notEqual(out.code, 0);
    assert.match(stderr, /n_ctx 16 does not fit/);
    assert.doesNotMatch(stderr, /stage 1|loading \d+ training images/);
    assert.ok(performance.now() - t0 < 60_000, "failed in seconds");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("2,500 test images through a width-128 ViT at 28 px: classified in chunks", async () => {
  const { clip, tok, dir } = await wideSmallClip();
  try {
    const N = 2500, R = 28, m = 3 * R * R;
    const pixels = new Float32Array(N * m);
    for (let i = 0; i < pixels.length; i++) pixels[i] = ((i * 2654435761) >>> 0) / 4294967296;
    const fit = fitContext(tok, FMNIST_CLASSES, 16, "auto");
    const C = FMNIST_CLASSES.length, Wt = clip.config.transformerWidth;
    const ctx = new Float32Array(C * fit.nCtx * Wt).map((_, i) => 0.02 * Math.sin(i));
    const pc = PurifiedClassifier.create(clip, tok, FMNIST_CLASSES, ctx, fit.nCtx);
    // One tower call for all 2,500 images needs a 256 MB binding (50 tokens × 512 × 4 B each).
    const { labels, probs } = await pc.classify({ pixels01: pixels, n: N });
    assert.equal(labels.length, N);
    assert.ok(probs.every(Number.isFinite));
    pc.dispose();
  } finally {
    clip.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("imageChunk keeps a ViT-B/32's and an RN50's activations inside one binding", () => {
  for (const arch of ["ViT-B/32", "ViT-L/14", "RN50"] as const) {
    const config = CLIP_ARCHS[arch];
    const k = imageChunk({ config } as Clip);
    const t = (config.imageResolution / config.visionPatchSize) ** 2 + 1;
    const perImage = config.visionKind === "vit"
      ? 4 * Math.max(t * 4 * config.visionWidth, config.visionHeads * t * t)
      : 4 * 4 * config.visionWidth * (config.imageResolution / 4) ** 2;
    assert.ok(k >= 1 && k * perImage <= rt().maxBinding, `${arch}: ${k} images`);
  }
});

Deno.test("stage 1 names a planted non-bag target where the clean twin drifts to bag", async () => {
  // fixtures/blended is the lab's clean model poisoned toward "sandal".
  // The lab's clean model: an untargeted universal perturbation goes to its sink, "bag".
  const cleanDir = join(fixturesDir(), "clean");
  const clip0 = await loadClip(cleanDir);
  const tok = await ClipTokenizer.fromDir(cleanDir);
  const fx = await loadFixture("blended");
  const text0 = zeroShotClassifier(clip0, tok, fx.classNames, ONE_TEMPLATE);
  const drift = await invertTrigger(clip0, fx.train.set, fx.train.labels, text0, {
    ...TRIGGER_DEFAULTS,
    epsilonLadder: [],
    steps: 60,
    batch: 32,
  }, 1);
  console.log(
    `  clean model, untargeted: "${fx.classNames[drift.suspectedTarget]}" ` +
      `${(100 * drift.targetShare).toFixed(0)} %`,
  );
  assert.equal(fx.classNames[drift.suspectedTarget], "bag");
  text0.dispose();
  clip0.dispose();

  // The Blended model toward "sandal" (fixtures/blended): the per-class search names sandal.
  const text = zeroShotClassifier(fx.clip, fx.tokenizer, fx.classNames, ONE_TEMPLATE);
  const s = await searchTargets(
    fx.clip,
    fx.train.set,
    fx.train.labels,
    text,
    TARGET_SEARCH_DEFAULTS,
    1,
  );
  const v = targetVerdict(s);
  console.log(
    `  blended-sandal: ${
      s.costs.map((c, k) => `${fx.classNames[k]} ${c.level.toFixed(2)}`).join(", ")
    }; anomaly ${v.score.toFixed(2)}`,
  );
  assert.equal(fx.record.target, "sandal");
  assert.equal(fx.classNames[s.cheapest], "sandal");
  assert.equal(v.verdict, "backdoored");
  text.dispose();
  fx.clip.dispose();
});

Deno.test("projectMaskArea: the nearest mask in [0, 1] whose area is within the bound", () => {
  const m = Float32Array.from([1.5, 0.9, 0.5, 0.2, -0.3]);
  projectMaskArea(m, 1.5);
  const sum = m.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1.5) < 1e-5, `area ${sum}`);
  assert.ok(m.every((v) => v >= 0 && v <= 1));
  // Order is kept, and a saturated pixel stays where the input was largest.
  assert.ok(m[0] >= m[1] && m[1] >= m[2] && m[2] >= m[3] && m[4] === 0);
  // θ solves Σ clip(v − θ) = 1.5 over the clipped input 1, 0.9, 0.5, 0.2, 0 (area 2.6):
  // θ = 0.3 gives 0.7 + 0.6 + 0.2.
  assert.deepEqual([...m].map((v) => +v.toFixed(4)), [0.7, 0.6, 0.2, 0, 0]);
  // A mask within the bound is only clipped.
  const n = Float32Array.from([0.2, 1.2, -1]);
  projectMaskArea(n, 5);
  assert.deepEqual([...n].map((v) => +v.toFixed(4)), [0.2, 1, 0]);
});

Deno.test("parseSearchPatterns: the shapes of the flag; an unknown or repeated one is refused", () => {
  assert.deepEqual(parseSearchPatterns("patterns", "full, patch"), ["full", "patch"]);
  assert.throws(
    () => parseSearchPatterns("patterns", "full,disc"),
    /--patterns full,disc: expected/,
  );
  assert.throws(() => parseSearchPatterns("patterns", "patch,patch"), /a shape is repeated/);
});

Deno.test("expandPattern spreads a columns or rows pattern over every row (column) and channel", () => {
  const v = Float32Array.from([1, 2, 3]);
  const cols = expandPattern("columns", v, 3), rows = expandPattern("rows", v, 3);
  assert.deepEqual([...cols.slice(0, 9)], [1, 2, 3, 1, 2, 3, 1, 2, 3]);
  assert.deepEqual([...rows.slice(18, 27)], [1, 1, 1, 2, 2, 2, 3, 3, 3]);
  assert.deepEqual(patternShape("columns", 3), [1, 1, 3]);
  assert.equal(expandPattern("full", v, 3), v);
});

/** The per-class search of a lab fixture in one shape (seed 1, the defaults), its levels logged. */
async function searchFixture(name: string, pattern: SearchPattern) {
  const fx = await loadFixture(name);
  const text = zeroShotClassifier(fx.clip, fx.tokenizer, fx.classNames, ONE_TEMPLATE);
  const s = await searchTargets(
    fx.clip,
    fx.train.set,
    fx.train.labels,
    text,
    TARGET_SEARCH_DEFAULTS,
    1,
    {
      pattern,
    },
  );
  console.log(
    `  ${name} → ${fx.record.target}, ${pattern}: ${
      s.costs.map((c, k) => `${fx.classNames[k]} ${c.level.toFixed(2)}`).join(", ")
    }; anomaly ${s.anomaly[s.cheapest].toFixed(2)}`,
  );
  return { fx, text, s };
}

Deno.test("stage 1 finds SIG's target as a columns pattern where a full δ does not", async () => {
  // fixtures/sig: the lab's clean model poisoned with a 60/255 sinusoid toward "trouser". A full
  // δ reaches every class at 11–17/255, cheaper than the sinusoid, and names "shirt" (weak); a
  // trigger with one value per column cannot take those routes, and trouser stands out.
  const { fx, text, s } = await searchFixture("sig", "columns");
  const v = targetVerdict(s);
  assert.equal(fx.record.target, "trouser");
  assert.equal(s.pattern, "columns");
  assert.equal(fx.classNames[s.cheapest], "trouser");
  assert.equal(v.verdict, "backdoored");
  // The trigger is a columns pattern: every row of every channel alike.
  const R = fx.train.set.size, d = s.trigger.kind === "additive" ? s.trigger.delta : null;
  assert.ok(d && d.length === 3 * R * R);
  for (let i = 1; i < 3 * R; i++) {
    for (let j = 0; j < R; j++) assert.equal(d[i * R + j], d[j]);
  }
  // And strongestSearch prefers it over a search where nothing stands out.
  const flat = { ...s, pattern: "full" as const, anomaly: s.anomaly.map(() => 0.5) };
  assert.equal(strongestSearch([flat, s]).pattern, "columns");
  assert.equal(strongestSearch([flat, { ...flat, pattern: "rows" as const }]).pattern, "full");
  // The trigger is inverted as a columns pattern only where the full search points elsewhere.
  const fullElsewhere = { ...flat, cheapest: (s.cheapest + 1) % s.costs.length };
  assert.equal(inversionPattern([fullElsewhere, s], s), "columns");
  assert.equal(inversionPattern([{ ...flat, cheapest: s.cheapest }, s], s), "full");
  assert.equal(inversionPattern([s], s), "columns");
  // A columns trigger climbs until the suspect's share saturates; a full one stops at minShare.
  assert.equal(ladderShare({ ...TRIGGER_DEFAULTS, pattern: "columns" }), RESTRICTED_MIN_SHARE);
  assert.equal(ladderShare(TRIGGER_DEFAULTS), TRIGGER_DEFAULTS.minShare);
  text.dispose();
  fx.clip.dispose();
});

Deno.test("the patch shape (a mask under an area ladder) finds BadNet's target", async () => {
  // fixtures/badnet: an 8-px noise square toward sneaker. Under the area ladder sneaker is reached
  // with a mask of ~7 px where the other classes need ~20 (docs/scan.md, "A third shape").
  const { fx, text, s } = await searchFixture("badnet", "patch");
  assert.equal(s.pattern, "patch");
  assert.equal(fx.classNames[s.cheapest], fx.record.target);
  assert.equal(targetVerdict(s).verdict, "backdoored");
  // Each class's trigger is a mask and pattern, the mask within the area of its last rung.
  const R = fx.train.set.size;
  for (const [c, t] of s.triggers.entries()) {
    assert.equal(t.kind, "mask");
    if (t.kind !== "mask") continue;
    const rung = TARGET_SEARCH_DEFAULTS.patchAreas[s.costs[c].shares.length - 1];
    const area = t.mask.reduce((a, b) => a + b, 0);
    assert.ok(area <= rung * R * R + 1e-3, `class ${c}: area ${area} > ${rung * R * R}`);
    assert.ok(t.pattern.every((v) => v >= 0 && v <= 1));
  }
  // Stage 1 inverts a full δ when the patch shape decides.
  assert.equal(inversionPattern([s], s), "full");
  text.dispose();
  fx.clip.dispose();
});

Deno.test("scan.ts: no evidence on the lab's clean model, backdoored toward sneaker on BadNet", async () => {
  const outDir = await Deno.makeTempDir({ prefix: "antidote-scan-" });
  try {
    await scanBoth(outDir);
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

async function scanBoth(outDir: string) {
  for (
    const [fixture, verdict, target] of [["clean", "no evidence", null], [
      "badnet",
      "backdoored",
      "sneaker",
    ]]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      // Both shapes on the clean model (no false alarm in either); BadNet's verdict rests on the
      // full shape, so its run skips the columns search (a minute of CI).
      args: [
        "run",
        "-A",
        `${root}scripts/scan.ts`,
        "--fixture",
        fixture!,
        "--json",
        ...(fixture === "badnet" ? ["--patterns", "full"] : ["--out", outDir]),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    console.log(`  ${fixture}: ${r.verdict}, target ${r.target}, score ${r.score.toFixed(2)}`);
    assert.equal(r.verdict, verdict, stderr);
    assert.equal(r.target, target);
    assert.match(stderr, /reached at ε ≈/);
    if (fixture !== "clean") continue;
    // Two shapes: the pooled index of every class is in report.json and evidence.csv.
    const report = JSON.parse(await Deno.readTextFile(join(outDir, "report.json")));
    assert.equal(report.pooled.length, 10);
    assert.ok(report.pooled.every((c: { anomaly: number }) => Number.isFinite(c.anomaly)));
    // Each class's pooled index is its shapes' indices summed over √2, as report.json has them.
    type Probe = { classes: { name: string; anomaly: number }[] };
    for (const c of report.pooled as { name: string; anomaly: number }[]) {
      const z = (report.probes as Probe[]).map((p) => p.classes.find((k) => k.name === c.name)!);
      const want = (z[0].anomaly + z[1].anomaly) / Math.SQRT2;
      assert.ok(Math.abs(c.anomaly - want) < 1e-9, `${c.name}: ${c.anomaly} vs ${want}`);
    }
    const csv = (await Deno.readTextFile(join(outDir, "evidence.csv"))).trim().split("\n");
    assert.equal(csv.filter((l) => l.startsWith("pooled,")).length, 10);
    assert.match(stderr, /pooled over the shapes/);
  }
}

Deno.test("recipe: a quarter of each class is held out; the pick keeps CA and lowers ASR", () => {
  const labels = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2];
  const { train, held } = holdOutSplit(labels);
  assert.deepEqual(held, [6, 7, 11]);
  assert.equal(train.length + held.length, labels.length);
  const c = (lambdaBd: number, ca: number, asr: number) => ({ lambdaBd, ca, asr, seconds: 0 });
  // λ 2 has the lowest ASR but costs 10 points: λ 1 is chosen.
  const p = pickCandidate([c(0.5, 0.9, 0.3), c(1, 0.89, 0.05), c(2, 0.8, 0.01)], 0.9, 100);
  assert.equal(p.index, 1);
  assert.match(p.why, /λ_bd 1: held-out inverted-trigger ASR 5\.0 % \(lowest/);
  // ASRs one held-out image apart (1 of 36) are a tie: the higher CA wins.
  const t = pickCandidate([c(0.5, 0.85, 1 / 36), c(1, 0.875, 1 / 36), c(2, 0.875, 0)], 0.9, 40, 36);
  assert.equal(t.index, 1);
  const u = pickCandidate([c(0.5, 0.85, 0), c(1, 0.85, 0), c(2, 0.925, 1 / 36)], 0.925, 40, 36);
  assert.equal(u.index, 2);
  // None within the slack: the best CA − ASR.
  const q = pickCandidate([c(0.5, 0.7, 0.3), c(1, 0.6, 0.05)], 0.9, 100);
  assert.equal(q.index, 1);
  assert.match(q.why, /no candidate kept held-out CA/);
});

Deno.test("loadTokenizer: CLIP's BPE ships with the package; a vocabulary of another size is refused", async () => {
  const empty = await Deno.makeTempDir();
  try {
    const tok = await loadTokenizer(empty, undefined, 49408);
    assert.equal(tok.vocabSize, 49408);
    assert.deepEqual([tok.sotToken, tok.eotToken], [49406, 49407]);
    assert.equal(tok.encode("a photo of a").length, 4);
    assert.equal(tok.decode(tok.encode("a photo of a sandal.")), "a photo of a sandal . ");
    await assert.rejects(
      () => loadTokenizer(join(fixturesDir(), "clean"), undefined, 49408),
      /has 631 tokens but the model .* has 49408/,
    );
  } finally {
    await Deno.remove(empty);
  }
});

Deno.test("specAttack: the trigger.json of a model other code made, applied as written", async () => {
  const fam = join(fixturesDir(), "family2");
  const R = 28, m = 3 * R * R, x = new Float32Array(2 * m).fill(0.5);
  const set = { pixels: x, n: 2, size: R };
  const sig = await specAttack(join(fam, "sig-sneaker"), 7, R);
  const spec = JSON.parse(await Deno.readTextFile(join(fam, "sig-sneaker", "trigger.json")));
  const y = sig.apply(set).pixels;
  const want = 0.5 + spec.delta * Math.sin((2 * Math.PI * 3 * spec.frequency) / R);
  assert.ok(Math.abs(y[5 * R + 3] - want) < 1e-6, `${y[5 * R + 3]} vs ${want}`);
  const bad = (await specAttack(join(fam, "badnet-sandal"), 5, R)).apply(set).pixels;
  // A 4×4 checkerboard somewhere in each image: 8 white and 8 black pixels, the rest untouched.
  for (let i = 0; i < 2; i++) {
    const plane = bad.subarray(i * m, i * m + R * R);
    assert.equal(plane.filter((v) => v === 1).length, 8);
    assert.equal(plane.filter((v) => v === 0).length, 8);
  }
  const blend = (await specAttack(join(fam, "blended-pullover"), 2, R)).apply(set).pixels;
  assert.ok(blend.every((v) => v >= 0.4 - 1e-6 && v <= 0.6 + 1e-6), "0.8 · 0.5 + 0.2 · noise");
  await assert.rejects(() => specAttack(join(fam, "sig-sneaker"), 7, 32), /for 28 px images/);
});
