// Antidote used from outside the repo: a program in another folder, with no deno.json or
// package.json of its own, imports mod.ts by file URL and runs. Every import of the library must
// then resolve without this repo's config (relative, node:, or npm: with package.json's version),
// and importing mod.ts must not open the GPU: reading a checkpoint or tokenizing never touches it.
//
// The consumer's npm packages come from Deno's global cache (DENO_DIR), filled from the npm
// registry on first use like any program's; where no registry is reachable and the cache is cold,
// `deno run --node-modules-dir=manual` resolves them from this repo's node_modules instead.

import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { makeRandomClip } from "../src/clip/random.ts";
import { CLIP_VOCAB_SIZE } from "../src/clip/config.ts";
import { writePng } from "../src/io/png.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MOD = new URL("../mod.ts", import.meta.url).href;

/** Every import, re-export and literal dynamic import specifier in a source text. */
function specifiers(text: string): string[] {
  const re = /\b(?:from\s*|import\s*\(\s*|import\s+)["']([^"'$]+)["']/g;
  return [...text.matchAll(re)].map((m) => m[1]);
}

/** The library's files: mod.ts and src/ (what deno.json's publish includes). */
function libraryFiles(): string[] {
  const out = ["mod.ts"];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(join(ROOT, dir))) {
      const rel = join(dir, e.name);
      if (e.isDirectory) walk(rel);
      else if (e.name.endsWith(".ts")) out.push(rel);
    }
  };
  walk("src");
  return out;
}

Deno.test("every import of the library resolves without this repo's config", () => {
  const pkg = JSON.parse(Deno.readTextFileSync(join(ROOT, "package.json")));
  const pinned: Record<string, string> = { ...pkg.dependencies };
  const bad: string[] = [];
  for (const file of libraryFiles()) {
    for (const spec of specifiers(Deno.readTextFileSync(join(ROOT, file)))) {
      if (spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("node:")) continue;
      const npm = /^npm:(@?[^@/]+(?:\/[^@/]+)?)@([^/]+)(\/.*)?$/.exec(spec);
      if (!npm) {
        bad.push(`${file}: "${spec}" (a bare or unversioned specifier needs this repo's config)`);
      } else if (pinned[npm[1]] !== npm[2]) {
        bad.push(`${file}: "${spec}" (package.json pins ${npm[1]} ${pinned[npm[1]] ?? "nowhere"})`);
      }
    }
  }
  assert.deepEqual(bad, [], `use npm:NAME@VERSION (src/io/sharp.ts for sharp):\n${bad.join("\n")}`);
});

/** The consumer: zero-shot CLIP and a purified classifier, through mod.ts alone. */
const CONSUMER = `
// Count the adapter requests: importing mod.ts, reading a checkpoint and tokenizing make none.
let asked = 0;
const gpu = navigator.gpu;
const request = gpu.requestAdapter.bind(gpu);
Object.defineProperty(gpu, "requestAdapter", {
  value: (o?: GPURequestAdapterOptions) => (asked++, request(o)),
});
const A = await import(${JSON.stringify(MOD)}); // after the counter: static imports run first

const model = "model", classes = ["cat", "dog", "bird"];
const tok = await A.ClipTokenizer.bundled();
const weights = await A.loadClipWeights(model);
const tokens = tok.tokenize(["a photo of a cat."], weights.config.contextLength);
let early = "";
try {
  A.Tensor.from([1], [1]);
} catch (e) {
  early = (e as Error).message;
}
const askedBeforeGpu = asked;

const clip = await A.loadClip(model); // opens the GPU
const R = clip.config.imageResolution;
const px = await A.preprocessImage("image.png", R);
const zeroShot = A.tidy(() => {
  const img = clip.encodeImage(A.Tensor.from(px, [1, 3, R, R]));
  const txt = clip.encodeText(tok.tokenize(classes.map((c) => \`a photo of a \${c}.\`), clip.config.contextLength));
  return A.softmax(clip.logits(img, txt));
});

const nCtx = 4, width = clip.config.transformerWidth;
const ctx = new Float32Array(classes.length * nCtx * width).map((_, i) => 0.02 * Math.sin(i));
const purified = A.PurifiedClassifier.create(clip, tok, classes, ctx, nCtx);
const pixels01 = await A.preprocessImage("image.png", R, { normalize: false });
const first = await purified.classify({ pixels01, n: 1 });
await purified.save("prompts.safetensors");
const loaded = await A.PurifiedClassifier.load(clip, tok, "prompts.safetensors");
const again = await loaded.classify({ pixels01, n: 1 });

console.log(JSON.stringify({
  askedBeforeGpu,
  askedAfter: asked,
  early,
  firstTokens: [...tokens.ids.slice(0, 3)],
  zeroShot: [...await zeroShot.toArray()],
  purified: { labels: first.labels, probs: [...first.probs] },
  reloaded: [...again.probs],
}));
`;

/** The nearest deno.json / deno.jsonc / package.json at or above `dir`, if any. */
function configAbove(dir: string): string | null {
  for (let d = dir;; d = dirname(d)) {
    for (const name of ["deno.json", "deno.jsonc", "package.json"]) {
      try {
        Deno.statSync(join(d, name));
        return join(d, name);
      } catch {
        // none here
      }
    }
    if (dirname(d) === d) return null;
  }
}

async function deno(args: string[], cwd: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "a script in another folder, with no config, imports mod.ts and classifies",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "antidote-consumer-" });
    try {
      assert.ok(relative(ROOT, dir).startsWith(".."), `${dir} is inside the repo`);
      assert.equal(configAbove(dir), null, "the consumer's folder must have no config above it");
      await makeRandomClip({
        arch: "tiny",
        format: "hf",
        out: join(dir, "model"),
        seed: 5,
        config: { vocabSize: CLIP_VOCAB_SIZE }, // CLIP's own BPE vocabulary (bundled tokenizer)
      });
      const R = 32, img = new Float32Array(3 * R * R).map((_, i) => (i % 7) / 7);
      await writePng(join(dir, "image.png"), img, R);
      await Deno.writeTextFile(join(dir, "consumer.ts"), CONSUMER);

      // Type-checks with no config (WebGPU and sharp's types included), then runs with the
      // least privilege the README gives the entry points.
      const check = await deno(["check", "consumer.ts"], dir);
      assert.equal(check.code, 0, `deno check failed:\n${check.stderr}`);
      const perms = ["--allow-read", "--allow-env", "--allow-ffi", `--allow-write=${dir}`];
      const run = await deno(["run", ...perms, "consumer.ts"], dir);
      assert.equal(run.code, 0, `consumer failed:\n${run.stderr}\n${run.stdout}`);
      const r = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
      // Offline, with a cold cache: the npm packages come from this repo's node_modules.
      const offline = await deno(
        ["run", "--cached-only", "--node-modules-dir=manual", ...perms, "consumer.ts"],
        dir,
        { DENO_DIR: join(dir, "cold-deno-dir") },
      );
      assert.equal(offline.code, 0, `offline consumer failed:\n${offline.stderr}`);
      const o = JSON.parse(offline.stdout.trim().split("\n").at(-1)!);
      assert.deepEqual(o.zeroShot, r.zeroShot, "the offline run classifies alike");

      assert.equal(r.askedBeforeGpu, 0, "import, checkpoint and tokenizer opened the GPU");
      assert.equal(r.askedAfter, 1, "loadClip opens the GPU, once");
      assert.match(r.early, /GPU is not open yet: `await initGpu\(\)`/);
      assert.deepEqual(r.firstTokens, [49406, 320, 1125]); // SOT "a" "photo"
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      assert.equal(r.zeroShot.length, 3);
      assert.ok(Math.abs(sum(r.zeroShot) - 1) < 1e-4, `zero-shot probs ${r.zeroShot}`);
      assert.ok(r.zeroShot.every((p: number) => p > 0 && p < 1), `zero-shot probs ${r.zeroShot}`);
      assert.equal(r.purified.labels.length, 1);
      assert.ok([0, 1, 2].includes(r.purified.labels[0]));
      assert.ok(Math.abs(sum(r.purified.probs) - 1) < 1e-4, `purified probs ${r.purified.probs}`);
      assert.deepEqual(r.reloaded, r.purified.probs, "saved and reloaded prompts classify alike");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
