// Zero-shot classification with a CLIP checkpoint: prompt-ensembled class features (80 CLIP
// templates, or one), images preprocessed as upstream, a top-k table or JSON.
//
// Usage: deno run -A scripts/classify.ts --model DIR --classes names.txt [--vocab PATH]
//          [--templates 80|1] [--top 5] [--json] [--skip-bad] IMAGES...

import {
  concat,
  exp,
  imageChunk,
  l2Normalize,
  loadClip,
  matmul,
  mul,
  noGrad,
  preprocessImages,
  readTensors,
  runWithGpu,
  softmax,
  Tensor,
  tidy,
} from "../mod.ts";
import { IMAGENET_TEMPLATES_80, ONE_TEMPLATE } from "../src/clip/templates.ts";
import { loadTokenizer, parseFlags } from "../src/cli/common.ts";
import { zeroShotClassifier } from "../src/clip/zeroshot.ts";

const USAGE = `usage: deno run -A scripts/classify.ts --model DIR --classes names.txt [--vocab PATH]
         [--templates 80|1] [--top 5] [--json] [--skip-bad] IMAGES...`;

const { values, positionals } = parseFlags({
  args: Deno.args,
  allowPositionals: true,
  options: {
    model: { type: "string" },
    classes: { type: "string" },
    vocab: { type: "string" },
    templates: { type: "string", default: "80" },
    top: { type: "string", default: "5" },
    json: { type: "boolean" },
    "skip-bad": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help || !values.model || !values.classes || positionals.length === 0) {
  console.error(USAGE);
  Deno.exit(values.help ? 0 : 2);
}

await runWithGpu(async () => {
  const classes = (await Deno.readTextFile(values.classes!)).split("\n").map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (classes.length === 0) throw new Error(`${values.classes}: no class names`);
  const templates = values.templates === "1" ? ONE_TEMPLATE : IMAGENET_TEMPLATES_80;
  if (values.templates !== "1" && values.templates !== "80") {
    throw new Error(`--templates must be 80 or 1, got ${values.templates}`);
  }
  const top = Math.min(classes.length, Math.max(1, Number(values.top)));

  const clip = await loadClip(values.model!);
  const tokenizer = await loadTokenizer(values.model!, values.vocab, clip.config.vocabSize);
  const size = clip.config.imageResolution;
  const batch = await preprocessImages(positionals, size, { skipErrors: !!values["skip-bad"] });
  for (const e of batch.errors) console.error(`warning: skipped ${e.path}: ${e.message}`);
  if (batch.loaded.length === 0) throw new Error("no image could be loaded");

  console.error(`encoding ${classes.length} classes × ${templates.length} templates ...`);
  const classFeatures = zeroShotClassifier(clip, tokenizer, classes, templates);
  // Probabilities as CLIP reports them: softmax of logit_scale.exp() · cosine similarity. The
  // images go through the tower in chunks that fit the adapter's bindings.
  const [n, , R] = batch.shape, m = 3 * R * R, chunk = imageChunk(clip);
  const probs = noGrad(() =>
    tidy(() => {
      const parts: Tensor[] = [];
      for (let s = 0; s < n; s += chunk) {
        const k = Math.min(chunk, n - s);
        const px = Tensor.from(batch.pixels.subarray(s * m, (s + k) * m), [k, 3, R, R]);
        parts.push(l2Normalize(clip.encodeImage(px)));
      }
      const img = parts.length === 1 ? parts[0] : concat(parts, 0);
      const sim = matmul(img, classFeatures, { transB: true });
      return softmax(mul(sim, exp(clip.param("logit_scale")))).keep();
    })
  );
  const [p] = await readTensors([probs]);
  const results = batch.loaded.map((path, i) => {
    const row = Array.from(p.subarray(i * classes.length, (i + 1) * classes.length));
    const order = row.map((v, k) => [v, k] as const).sort((a, b) => b[0] - a[0]).slice(0, top);
    return { image: path, top: order.map(([v, k]) => ({ class: classes[k], prob: v })) };
  });
  if (values.json) {
    console.log(JSON.stringify({ model: values.model, templates: templates.length, results }));
  } else {
    for (const r of results) {
      console.log(r.image);
      for (const t of r.top) console.log(`  ${(100 * t.prob).toFixed(2).padStart(6)}%  ${t.class}`);
    }
  }
  clip.dispose();
});
