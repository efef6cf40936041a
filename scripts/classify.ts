// Classification with a CLIP checkpoint: zero-shot (prompt-ensembled class features, 80 CLIP
// templates or one) or with purified prompts (purify.ts's prompts.safetensors, which name their
// classes); images preprocessed as upstream; a top-k table or JSON.
//
// Usage: deno run -A scripts/classify.ts --model DIR --classes names.txt [--vocab PATH]
//          [--templates 80|1] [--top 5] [--json] [--skip-bad] IMAGES...
//        deno run -A scripts/classify.ts --model DIR --prompts out/prompts.safetensors ... IMAGES...

import { describePixelStats, loadClip, preprocessImages, runWithGpu } from "../mod.ts";
import { classProbabilities, imageFeatures } from "../src/clip/pixels.ts";
import { PurifiedClassifier } from "../src/cbpt/purified.ts";
import { readClassNames } from "../src/cbpt/data.ts";
import { IMAGENET_TEMPLATES_80, ONE_TEMPLATE } from "../src/clip/templates.ts";
import { loadTokenizer, parseFlags, wholeFlag } from "../src/cli/common.ts";
import { zeroShotClassifier } from "../src/clip/zeroshot.ts";

const USAGE = `usage: deno run -A scripts/classify.ts --model DIR --classes names.txt [--vocab PATH]
         [--templates 80|1] [--top 5] [--json] [--skip-bad] IMAGES...
       deno run -A scripts/classify.ts --model DIR --prompts prompts.safetensors [--vocab PATH]
         [--top 5] [--json] [--skip-bad] IMAGES...   (purified prompts; they name the classes)`;

const { values, positionals } = parseFlags({
  args: Deno.args,
  allowPositionals: true,
  options: {
    model: { type: "string" },
    classes: { type: "string" },
    prompts: { type: "string" },
    vocab: { type: "string" },
    templates: { type: "string", default: "80" },
    top: { type: "string", default: "5" },
    json: { type: "boolean" },
    "skip-bad": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if (!values.model || !(values.classes || values.prompts) || positionals.length === 0) {
  console.error(
    `error: --model, --classes (or --prompts) and at least one image are required\n${USAGE}`,
  );
  Deno.exit(2);
}
if (values.classes && values.prompts) {
  console.error("error: --prompts names its own classes: give --classes or --prompts, not both");
  Deno.exit(2);
}

const topK = wholeFlag("top", values.top, 5, 1, 1000);
if (values.templates !== "1" && values.templates !== "80") {
  console.error(`error: --templates ${values.templates}: expected 80 or 1`);
  Deno.exit(2);
}

await runWithGpu(async () => {
  const templates = values.templates === "1" ? ONE_TEMPLATE : IMAGENET_TEMPLATES_80;
  const clip = await loadClip(values.model!);
  const tokenizer = await loadTokenizer(values.model!, values.vocab, clip.config.vocabSize);
  const size = clip.config.imageResolution;
  // [0, 1] pixels here; the model's own mean/std normalise them on the GPU (imageFeatures).
  console.error(describePixelStats(clip.pixelStats));
  const batch = await preprocessImages(positionals, size, {
    skipErrors: !!values["skip-bad"],
    normalize: false,
  });
  for (const e of batch.errors) console.error(`warning: skipped ${e.path}: ${e.message}`);
  if (batch.loaded.length === 0) throw new Error("no image could be loaded");
  const pixels01 = { pixels01: batch.pixels, n: batch.loaded.length };

  let classes: readonly string[], probs: Float32Array;
  if (values.prompts) {
    const purified = await PurifiedClassifier.load(clip, tokenizer, values.prompts);
    classes = purified.classNames;
    console.error(`classifying with the purified prompts of ${values.prompts} ...`);
    probs = (await purified.classify(pixels01)).probs;
    purified.dispose();
  } else {
    classes = await readClassNames(values.classes!);
    console.error(`encoding ${classes.length} classes × ${templates.length} templates ...`);
    const classFeatures = zeroShotClassifier(clip, tokenizer, classes, templates);
    const images = imageFeatures(clip, { pixels: batch.pixels, n: pixels01.n, size });
    probs = await classProbabilities(clip, images, classFeatures);
    images.dispose();
    classFeatures.dispose();
  }
  const top = Math.min(classes.length, topK);
  const results = batch.loaded.map((path, i) => {
    const row = Array.from(probs.subarray(i * classes.length, (i + 1) * classes.length));
    const order = row.map((v, k) => [v, k] as const).sort((a, b) => b[0] - a[0]).slice(0, top);
    return { image: path, top: order.map(([v, k]) => ({ class: classes[k], prob: v })) };
  });
  if (values.json) {
    console.log(JSON.stringify({
      model: values.model,
      ...(values.prompts ? { prompts: values.prompts } : { templates: templates.length }),
      results,
    }));
  } else {
    for (const r of results) {
      console.log(r.image);
      for (const t of r.top) console.log(`  ${(100 * t.prob).toFixed(2).padStart(6)}%  ${t.class}`);
    }
  }
  clip.dispose();
});
