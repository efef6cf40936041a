// Entry points end to end, as a user runs them (a subprocess each).

import assert from "node:assert/strict";
import { readSafetensors, toFloat32 } from "../mod.ts";
import { sharedDir } from "./helpers.ts";

const shared = sharedDir();
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
  ignore: !shared,
  fn: async () => {
    const d = `${shared}reference/tiny-a/`;
    const out = await Deno.makeTempFile({ suffix: ".safetensors" });
    const r = await run("embed.ts", [
      "--model",
      `${d}hf`,
      "--pixels",
      `${d}inputs.safetensors:pixels`,
      "--tokens",
      `${d}inputs.safetensors:tokens`,
      "--out",
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const got = await readSafetensors(out);
    const want = await readSafetensors(`${d}expected.safetensors`);
    for (const name of ["image_features", "text_features", "logits_per_image"]) {
      const g = toFloat32(got.tensors.get(name)!), w = toFloat32(want.tensors.get(name)!);
      const maxW = Math.max(...w.map(Math.abs));
      const maxD = Math.max(...g.map((v, i) => Math.abs(v - w[i])));
      assert.ok(maxD <= 1e-4 * maxW, `${name}: max |diff| ${maxD} > 1e-4 × ${maxW}`);
    }
    await Deno.remove(out);
  },
});

Deno.test("embed.ts: bad arguments give usage, a missing tensor names the file", async () => {
  const r = await run("embed.ts", ["--model", "x"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--model and --out are required|usage:/);
  if (!shared) return;
  const d = `${shared}reference/tiny-a/`;
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
  ignore: !shared,
  fn: async () => {
    const { makeRandomClip } = await import("../scripts/make-random-clip.ts");
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
      `${shared}images/${f}`
    );
    for (const templates of ["1", "80"]) {
      const r = await run("classify.ts", [
        "--model",
        dir,
        "--classes",
        `${dir}/classes.txt`,
        "--vocab",
        `${shared}clip-vocab/bpe_simple_vocab_16e6.txt.gz`,
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
    const bad = await run("classify.ts", [
      "--model",
      dir,
      "--classes",
      `${dir}/classes.txt`,
      images[0],
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /no tokenizer for .*pass --vocab/);
    await Deno.remove(dir, { recursive: true });
  },
});
