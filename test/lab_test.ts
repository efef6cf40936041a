// The backdoor lab's committed fixtures (fixtures/clean, fixtures/data) and the code that makes
// them: the fixture model loads and classifies the fixture test set zero-shot, its tokenizer
// keeps every template word whole, the image sets have their stated shapes, and
// scripts/pretrain.ts runs end to end for a few steps.

import assert from "node:assert/strict";
import { ClipTokenizer, initGpu, loadClip } from "../mod.ts";
import { loadFixtureSet } from "../src/lab/fixtures.ts";
import { FMNIST_CLASSES, parseClassFile, toPixels01 } from "../src/lab/fmnist.ts";
import { accuracy, zeroShotPredict } from "../src/lab/train.ts";
import { resultsMarkdown } from "../src/lab/results.ts";
import {
  buildLabTokenizer,
  CAPTION_TEMPLATES,
  EVAL_TEMPLATE,
  LAB_WORDS,
  words,
} from "../src/lab/vocab.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

const root = new URL("../", import.meta.url).pathname;
const CLEAN = `${root}fixtures/clean`;
const DATA = `${root}fixtures/data`;
/** Zero-shot CA of fixtures/clean on the first 30 images per class of the fixture test set. */
const CA_BOUND = 0.78;

Deno.test("fixture model: loads, and classifies the fixture test set zero-shot", async () => {
  const clip = await loadClip(CLEAN);
  const tokenizer = await ClipTokenizer.fromDir(CLEAN);
  try {
    assert.equal(clip.config.vocabSize, tokenizer.vocabSize);
    assert.equal(clip.source.warnings.length, 0);
    const set = await loadFixtureSet(`${DATA}/test.safetensors`, clip.config.imageResolution);
    // 30 per class: the set is stored in class order, 100 per class.
    const idx = FMNIST_CLASSES.flatMap((_, c) => Array.from({ length: 30 }, (_, k) => c * 100 + k));
    const m = 3 * set.resolution * set.resolution;
    const preds = await zeroShotPredict(clip, tokenizer, set.classNames, idx.length, (s, n) => {
      const px = new Float32Array(n * m);
      for (let j = 0; j < n; j++) {
        px.set(set.images01.subarray(idx[s + j] * m, (idx[s + j] + 1) * m), j * m);
      }
      return { pixels01: px, channels: 3 };
    }, { template: EVAL_TEMPLATE });
    const ca = accuracy(preds, idx.map((i) => set.labels[i]));
    assert.ok(
      ca >= CA_BOUND,
      `zero-shot CA ${ca} on ${idx.length} images, expected >= ${CA_BOUND}`,
    );
  } finally {
    clip.dispose();
  }
});

Deno.test("lab tokenizer: every template and class word is one token; SOT/EOT are the top ids", async () => {
  const fixture = await ClipTokenizer.fromDir(CLEAN);
  const built = buildLabTokenizer();
  for (const tok of [fixture, built]) {
    assert.equal(tok.eotToken, tok.vocabSize - 1);
    assert.equal(tok.sotToken, tok.vocabSize - 2);
    for (const w of LAB_WORDS) assert.equal(tok.encode(w).length, 1, `"${w}"`);
    for (const c of FMNIST_CLASSES) {
      for (const t of CAPTION_TEMPLATES) {
        const text = t.replace("{}", c);
        const ids = tok.encode(text);
        assert.deepEqual(ids, words(text).flatMap((w) => tok.encode(w)), text);
        assert.equal(ids.length, words(text).length, text);
        assert.equal(tok.decode(ids).replace(/ /g, ""), text.replace(/ /g, ""));
      }
    }
    // Unknown words still tokenize (as byte pieces) and decode back.
    const odd = "remember a zebra's hat, 42!";
    assert.equal(tok.decode(tok.encode(odd)).replace(/ /g, ""), odd.replace(/ /g, ""));
  }
  assert.deepEqual(fixture.toTokenizerJson(), built.toTokenizerJson());
  const longest = Math.max(
    ...CAPTION_TEMPLATES.flatMap((t) =>
      FMNIST_CLASSES.map((c) => fixture.encode(t.replace("{}", c)).length)
    ),
  );
  // SOT + 16 learnable context slots + the longest caption + EOT fit the context.
  const clip = JSON.parse(await Deno.readTextFile(`${CLEAN}/config.json`));
  assert.ok(1 + 16 + longest + 1 <= clip.text_config.max_position_embeddings);
});

Deno.test("fixture image sets: shapes, balanced labels, metadata, model input", async () => {
  for (
    const [name, perClass, split] of [["fewshot", 16, "train"], ["test", 100, "test"]] as const
  ) {
    const set = await loadFixtureSet(`${DATA}/${name}.safetensors`);
    assert.equal(set.n, 10 * perClass);
    assert.equal(set.images.length, set.n * 28 * 28);
    assert.equal(set.images01.length, set.n * 3 * 32 * 32);
    assert.deepEqual(set.classNames, [...FMNIST_CLASSES]);
    assert.equal(set.meta.split, split);
    assert.ok(Number.isInteger(set.meta.seed));
    const counts = new Array(10).fill(0);
    for (const l of set.labels) counts[l]++;
    assert.deepEqual(counts, new Array(10).fill(perClass));
    // [0, 1], three equal channels, the 2-px border zero.
    let max = 0;
    for (let i = 0; i < set.images01.length; i++) max = Math.max(max, set.images01[i]);
    assert.ok(max <= 1 && max > 0.5);
    const plane = 32 * 32;
    for (let p = 0; p < plane; p++) {
      assert.equal(set.images01[p], set.images01[plane + p]);
      assert.equal(set.images01[p], set.images01[2 * plane + p]);
    }
    for (let x = 0; x < 32; x++) assert.equal(set.images01[x], 0);
    const r28 = await loadFixtureSet(`${DATA}/${name}.safetensors`, 28);
    assert.equal(r28.images01[0], set.images[0] / 255);
  }
});

Deno.test("fmnist: the class-file parser skips empty arrays; grey to padded input", () => {
  const img = Array.from({ length: 784 }, (_, i) => i % 256);
  const json = JSON.stringify({ data: [img, [], img.map((v) => 255 - v)] });
  const got = parseClassFile(new TextEncoder().encode(json), "test.json");
  assert.equal(got.length, 2 * 784);
  assert.equal(got[784], 255);
  assert.throws(() => parseClassFile(new TextEncoder().encode('{"data":[[1,2]]}'), "x"), /784/);
  const px = toPixels01(got, [1], 32, 1);
  assert.equal(px.length, 32 * 32);
  assert.equal(px[0], 0);
  assert.equal(px[2 * 32 + 2], 1); // first pixel of image 1: 255
});

Deno.test("pretrain.ts: 3 steps end to end into a temp folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "antidote-pretrain-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${root}scripts/pretrain.ts`,
        "--out",
        `${dir}/model`,
        "--data",
        `${dir}/data`,
        "--steps",
        "3",
        "--batch",
        "16",
        "--eval",
        "100",
        "--log-every",
        "1",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.match(stderr, /step 3\/3 {2}loss \d/);
    assert.match(stderr, /ETA/);
    const summary = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.ok(summary.zeroShotAccuracy >= 0 && summary.zeroShotAccuracy <= 1);
    const log = JSON.parse(await Deno.readTextFile(`${dir}/model/train-log.json`));
    assert.equal(log.steps, 3);
    assert.equal(log.log.length, 3);
    assert.equal(log.zeroShot.testImages, 100);
    const clip = await loadClip(`${dir}/model`);
    const tok = await ClipTokenizer.fromDir(`${dir}/model`);
    assert.equal(clip.config.vocabSize, tok.vocabSize);
    clip.dispose();
    const few = await loadFixtureSet(`${dir}/data/fewshot.safetensors`);
    assert.equal(few.n, 160);
    // Same seed, same choice as the committed fixture.
    const committed = await loadFixtureSet(`${DATA}/fewshot.safetensors`);
    assert.deepEqual(few.images, committed.images);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("results.md as written is what deno fmt makes of it (aligned table, wrapped prose)", async () => {
  const row = (attack: string, defence: string, seeds: number, ca: number, asr: number) => ({
    attack,
    defence,
    target: "bag",
    seeds,
    ca_mean: ca,
    ca_std: seeds > 1 ? 0.004 : 0,
    asr_mean: asr,
    asr_std: seeds > 1 ? 0.021 : 0,
    ca: [ca],
    asr: [asr],
    seconds: 12.5,
    settings: {},
  });
  const md = resultsMarkdown([
    row("badnet", "none", 1, 0.863, 0.99),
    row("badnet", "cbpt", 3, 0.821, 0.021),
    row("trojvqa", "none", 1, 0.867, 1),
    row("trojvqa", "coop", 1, 0.853, 0.991),
    {
      ...row("sig", "cbpt", 3, 0.835, 0.047),
      stage1_steps: [180, 168, 180],
      settings: { trigger_flat: 0.02 },
    },
  ]);
  assert.match(md, /\| badnet {2}\| 86\.3/, "columns are padded");
  assert.match(md, /inversion\s+steps\s+per\s+seed,.*:\s+sig\s+180,\s+168,\s+180\./s);
  assert.match(
    md,
    /before\s+stage\s+1\s+could\s+stop\s+early\s+\(every\s+step\s+ran\):\s+badnet\./,
  );
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "md", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = fmt.stdin.getWriter();
  await w.write(new TextEncoder().encode(md));
  await w.close();
  const { code, stdout, stderr } = await fmt.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(new TextDecoder().decode(stdout), md);
});
