// The free-head bound of a backdoored model: the best CA/ASR that any text-side defence (CBPT,
// CoOp) could reach with the model's own trigger, from its 16-shot set (src/lab/bound.ts). A
// large bound means the backdoor left too little class information in triggered features for
// prompts to undo; a small one that a better prompt search could get there.
//
//   deno run -A scripts/head-bound.ts [--fixture blended,sig] [--fixtures DIR] [--json]
//     [--lambda-bd 0.5,1,2,4] (one bound per weight of the triggered loss: the CA/ASR frontier)
//   deno run -A scripts/head-bound.ts --toy '{"trigger":"patch","width":128}' [--scale 100]
//     (a toy model of src/lab/toy_backdoor.ts, trained first; the JSON overrides TOY_RECIPE)

import { parseFlags } from "../src/cli/common.ts";
import { ATTACK_NAMES } from "../src/attacks/index.ts";
import { fixturesDir, loadFixture } from "../src/lab/demo.ts";
import { imageFeatures, predictClasses } from "../src/clip/pixels.ts";
import type { ImageSet } from "../src/io/images.ts";
import type { Clip } from "../src/clip/model.ts";
import { ONE_TEMPLATE } from "../src/clip/templates.ts";
import { zeroShotClassifier } from "../src/clip/zeroshot.ts";
import { type Features, freeHeadBound } from "../src/lab/bound.ts";
import { measureFixture } from "../src/lab/measure.ts";
import { measure } from "../src/cbpt/run.ts";
import { readTensors, runWithGpu } from "../mod.ts";

const { values } = parseFlags({
  args: Deno.args,
  options: {
    fixture: { type: "string" },
    fixtures: { type: "string" },
    toy: { type: "string" },
    scale: { type: "string", default: "30" },
    "lambda-bd": { type: "string", default: "1" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(
    "usage: deno run -A scripts/head-bound.ts [--fixture blended,sig] [--fixtures DIR] [--json]\n" +
      "         [--lambda-bd 0.5,1,2,4] [--toy JSON [--scale 30]]",
  );
  Deno.exit(0);
}

type Labelled = { set: ImageSet; labels: number[] };

/** A backdoored model with its few-shot and test sets and its trigger. */
interface Case {
  name: string;
  clip: Clip;
  classNames: string[];
  train: Labelled;
  test: Labelled;
  apply: (set: ImageSet) => ImageSet;
  target: number;
  /** CA and ASR before any defence, as the model's own evaluation measures them. */
  before: () => Promise<{ ca: number; asr: number }>;
}

async function bounds(c: Case, scale: number, lambdas: number[]) {
  const t0 = performance.now();
  // Clean and triggered features of the few-shot and test sets, read back in one sync.
  const sets = [c.train, c.test].flatMap((d) => [d.set, c.apply(d.set)]);
  const gpu = sets.map((set) => imageFeatures(c.clip, set));
  const host = await readTensors(gpu);
  for (const t of gpu) t.dispose();
  const E = c.clip.config.embedDim;
  const [trainClean, trainTrig, testClean, testTrig] = host.map((data, i): Features => ({
    data,
    dim: E,
    labels: (i < 2 ? c.train : c.test).labels,
  }));
  const before = await c.before();
  return lambdas.map((lambdaBd) => {
    const b = freeHeadBound(
      trainClean,
      trainTrig,
      testClean,
      testTrig,
      c.classNames.length,
      c.target,
      { scale, lambdaBd },
    );
    return {
      fixture: c.name,
      ca_before: before.ca,
      asr_before: before.asr,
      lambda_bd: lambdaBd,
      ca: b.ca,
      asr: b.asr,
      triggered_acc: b.triggeredAcc,
      scale,
      seconds: (performance.now() - t0) / 1000,
    };
  });
}

async function* cases(): AsyncGenerator<Case> {
  if (values.toy !== undefined) {
    // The toy lives beside the tests that use it.
    const toy = await import("../src/lab/toy_backdoor.ts");
    const recipe = { ...toy.TOY_RECIPE, ...JSON.parse(values.toy || "{}") };
    const { clip, tokenizer } = await toy.trainToyClip(recipe);
    const test = toy.toyImages(50, 77);
    const apply = recipe.trigger === "patch" ? toy.addPatch : (s: ImageSet) => toy.addTrigger(s);
    yield {
      name: `toy ${JSON.stringify(recipe)}`,
      clip,
      classNames: toy.TOY_CLASSES,
      train: toy.toyImages(16, 5),
      test,
      apply,
      target: toy.TOY_TARGET,
      before: async () => {
        // Zero-shot with the prompt the toy was trained on.
        const text0 = zeroShotClassifier(clip, tokenizer, toy.TOY_CLASSES, ONE_TEMPLATE);
        const { ca, asr } = await measure((s) => predictClasses(clip, s, text0), test, {
          name: "planted",
          target: toy.TOY_TARGET,
          apply,
        });
        text0.dispose();
        return { ca, asr: asr! };
      },
    };
    return;
  }
  const dir = values.fixtures ?? fixturesDir();
  for (const name of values.fixture ? values.fixture.split(",") : ATTACK_NAMES) {
    const fx = await loadFixture(name, dir);
    yield {
      name,
      ...fx,
      apply: fx.attack.apply,
      target: fx.record.targetIndex,
      before: () => measureFixture(fx),
    };
  }
}

await runWithGpu(async () => {
  const scale = Number(values.scale);
  if (!(scale > 0)) throw new Error(`--scale must be a positive number (got ${values.scale})`);
  const lambdas = values["lambda-bd"].split(",").map(Number);
  if (!lambdas.every((l) => l >= 0)) {
    throw new Error(`--lambda-bd ${values["lambda-bd"]}: expected weights >= 0, comma-separated`);
  }
  for await (const c of cases()) {
    const rows = await bounds(c, scale, lambdas);
    c.clip.dispose();
    for (const row of rows) printRow(c.name, row);
  }
});

function printRow(name: string, row: Awaited<ReturnType<typeof bounds>>[number]) {
  if (values.json) return console.log(JSON.stringify(row));
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  console.log(
    `${name}: zero-shot CA ${pct(row.ca_before)}, ASR ${pct(row.asr_before)}; ` +
      `free-head bound (λ_bd ${row.lambda_bd}) CA ${pct(row.ca)}, ` +
      `ASR ${pct(row.asr)}, triggered images in their class ${pct(row.triggered_acc)} ` +
      `(${row.seconds.toFixed(1)} s)`,
  );
}
