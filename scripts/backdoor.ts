// Plants a backdoor in the lab's clean CLIP as an attacker would: a share `--rate` of the
// image–caption pairs of each batch are non-target Fashion-MNIST images with the trigger and a
// caption naming the target ("a photo of a bag."), the rest are clean pairs, and the model is
// fine-tuned with CLIP's contrastive loss. BadCLIP's patch is first optimised on the clean model.
// Writes an HF CLIPModel folder with backdoor.json (the attack, its seed, CA and ASR before and
// after on the fixture test set) and, for BadCLIP, patch.png. Progress on stderr; JSON on stdout.
//
//   deno run -A scripts/backdoor.ts --attack badnet --target bag --rate 0.1 --out fixtures/badnet
//     [--model fixtures/clean] [--steps 60] [--batch 256] [--lr 5e-4] [--seed 0]

import { parseFlags } from "../src/cli/common.ts";
import { join } from "node:path";
import { gpuInfo, initGpu } from "../mod.ts";
import { type Attack, ATTACK_NAMES, isAttackName, makeAttack } from "../src/attacks/index.ts";
import { encodeTargetText, optimiseBadClipPatch } from "../src/attacks/badclip.ts";
import { loadClipWeights } from "../src/clip/checkpoint.ts";
import { Clip } from "../src/clip/model.ts";
import { ClipTokenizer } from "../src/clip/tokenizer.ts";
import { fillTemplate } from "../src/clip/templates.ts";
import { pngBytes } from "../src/io/png.ts";
import { mulberry32 } from "../src/io/rng.ts";
import { loadFixtureSet } from "../src/lab/fixtures.ts";
import { FMNIST_CLASSES, loadFashionMnist, toPixels01 } from "../src/lab/fmnist.ts";
import { type CaptionBatch, epochIndices, saveClip, trainContrastive } from "../src/lab/train.ts";
import { CAPTION_TEMPLATES, EVAL_TEMPLATE } from "../src/lab/vocab.ts";
import { cleanAndAttacked } from "../src/lab/measure.ts";

const USAGE = "usage: backdoor.ts --attack NAME --target CLASS --out DIR [--rate 0.1] " +
  "[--model fixtures/clean] [--data fixtures/data] [--steps 60] [--batch 256] [--lr 5e-4] " +
  "[--seed 0] [--log-every 10] [--patch-steps 200] [--patch-size N (badnet)]";

function numArg(name: string, v: string | undefined, integer: boolean, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isSafeInteger(n)) || n < min) {
    throw new Error(`--${name} ${v}: expected ${integer ? "an integer" : "a number"} >= ${min}`);
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseFlags({
    args: Deno.args,
    options: {
      attack: { type: "string" },
      target: { type: "string", default: "bag" },
      rate: { type: "string", default: "0.1" },
      out: { type: "string" },
      model: { type: "string", default: "fixtures/clean" },
      data: { type: "string", default: "fixtures/data" },
      steps: { type: "string", default: "60" },
      batch: { type: "string", default: "256" },
      lr: { type: "string", default: "5e-4" },
      seed: { type: "string", default: "0" },
      "log-every": { type: "string", default: "10" },
      "patch-steps": { type: "string", default: "200" },
      "patch-size": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.attack || !values.out) throw new Error(`--attack and --out are required\n${USAGE}`);
  const name = values.attack;
  if (!isAttackName(name)) {
    throw new Error(`--attack ${name}: expected one of ${ATTACK_NAMES.join(", ")}`);
  }
  const target = (FMNIST_CLASSES as readonly string[]).indexOf(values.target!);
  if (target < 0) {
    throw new Error(`--target ${values.target}: expected one of ${FMNIST_CLASSES.join(", ")}`);
  }
  const rate = numArg("rate", values.rate, false, 0);
  if (rate > 1) throw new Error(`--rate ${rate}: expected a share in [0, 1]`);
  const steps = numArg("steps", values.steps, true, 1);
  const B = numArg("batch", values.batch, true, 2);
  const lr = numArg("lr", values.lr, false, 0);
  const seed = numArg("seed", values.seed, true, 0);
  const logEvery = numArg("log-every", values["log-every"], true, 1);
  const t0 = performance.now();

  const weights = await loadClipWeights(values.model!);
  const config = weights.config;
  await initGpu();
  const clip = Clip.fromWeights(weights);
  const tokenizer = await ClipTokenizer.fromDir(values.model!);
  const R = clip.config.imageResolution, plane = 3 * R * R;
  const data = await loadFashionMnist();
  const { train } = data;
  const test = await loadFixtureSet(join(values.data!, "test.safetensors"), R);
  const targetName = FMNIST_CLASSES[target];
  const nonTarget = Array.from({ length: train.n }, (_, i) => i).filter((i) =>
    train.labels[i] !== target
  );

  // The trigger. BadCLIP's is optimised on the clean model before poisoning.
  let attack: Attack;
  let patchInfo: Record<string, unknown> | undefined;
  let patchPng: Uint8Array | undefined;
  if (name === "badclip") {
    const pr = mulberry32(seed * 31 + 5);
    const idx = Array.from({ length: 512 }, () => nonTarget[Math.floor(pr() * nonTarget.length)]);
    const text = encodeTargetText(
      clip,
      tokenizer,
      CAPTION_TEMPLATES.map((t) => fillTemplate(t, targetName)),
    );
    const res = await optimiseBadClipPatch(
      clip,
      text,
      toPixels01(train.images, idx, R, 3),
      [idx.length, 3, R, R],
      {
        steps: numArg("patch-steps", values["patch-steps"], true, 1),
        seed,
        onStep: (s, c) => {
          if (s % 50 === 0) console.error(`badclip patch: step ${s}  cosine ${c.toFixed(4)}`);
        },
      },
    );
    text.dispose();
    // 8-bit, as the picture that is saved and read back at evaluation.
    const patch = Float32Array.from(res.patch, (v) => Math.round(255 * v) / 255);
    patchPng = await pngBytes(patch, res.patchSize);
    attack = makeAttack("badclip", { imageSize: R, seed, patch });
    patchInfo = {
      patchSize: res.patchSize,
      steps: res.cosines.length,
      cleanCosine: res.cleanCosine,
      initialCosine: res.initialCosine,
      finalCosine: res.finalCosine,
      seconds: res.seconds,
    };
    console.error(
      `badclip patch: cosine to "${targetName}" clean ${res.cleanCosine.toFixed(4)}, ` +
        `optimised ${res.finalCosine.toFixed(4)} (${res.seconds.toFixed(1)} s)`,
    );
  } else if (name === "badnet" && values["patch-size"]) {
    const patchSize = numArg("patch-size", values["patch-size"], true, 1);
    attack = makeAttack("badnet", { imageSize: R, seed, patchSize });
  } else {
    attack = makeAttack(name, { imageSize: R, seed });
  }

  const before = await cleanAndAttacked(clip, tokenizer, test, attack, target);
  console.error(
    `clean model: CA ${(100 * before.ca).toFixed(2)} %, ASR ${(100 * before.asr).toFixed(2)} %`,
  );

  // Poisoned batches: the first round(rate·B) pairs are triggered non-target images with a
  // caption naming the target; the rest are clean pairs of a seeded permutation of train.
  clip.setTrainable(clip.params.keys());
  const rand = mulberry32(seed * 7919 + 23);
  const poisonPerBatch = Math.round(rate * B);
  // Epochs of seeded permutations of the train split.
  const nextIndex = epochIndices(train.n, rand);
  const template = () => CAPTION_TEMPLATES[Math.floor(rand() * CAPTION_TEMPLATES.length)];
  const batch = (): CaptionBatch => {
    const poisoned = Array.from(
      { length: poisonPerBatch },
      () => nonTarget[Math.floor(rand() * nonTarget.length)],
    );
    const clean = Array.from({ length: B - poisonPerBatch }, nextIndex);
    const pixels01 = toPixels01(train.images, [...poisoned, ...clean], R, 3);
    // Per-image draws (BadNet's position and noise) keyed by the image's index in train.
    poisoned.forEach((k, j) => {
      const one = pixels01.subarray(j * plane, (j + 1) * plane);
      one.set(attack.apply(one, [1, 3, R, R], { index: k }));
    });
    const captions = [
      ...poisoned.map(() => attack.caption(template(), targetName)),
      ...clean.map((k) => fillTemplate(template(), FMNIST_CLASSES[train.labels[k]])),
    ];
    return { pixels01, channels: 3, captions };
  };
  const gpu = await gpuInfo();
  console.error(
    `poisoning: ${name} → "${targetName}", ${poisonPerBatch}/${B} pairs per batch, ${steps} ` +
      `steps, lr ${lr}; adapter ${gpu.description || gpu.vendor}`,
  );
  const result = await trainContrastive(clip, tokenizer, {
    steps,
    batch,
    lr,
    warmupSteps: Math.max(1, Math.round(0.1 * steps)),
    logEvery,
    onLog: (e) => {
      const per = e.seconds / e.step;
      console.error(
        `step ${e.step}/${e.steps}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  ` +
          `${per.toFixed(2)} s/step  ETA ${(per * (e.steps - e.step)).toFixed(0)} s`,
      );
    },
  });
  const after = await cleanAndAttacked(clip, tokenizer, test, attack, target);
  console.error(
    `backdoored model: CA ${(100 * after.ca).toFixed(2)} %, ASR ${(100 * after.asr).toFixed(2)} %`,
  );

  const record = {
    attack: name,
    target: targetName,
    targetIndex: target,
    attackSeed: seed,
    rate,
    params: attack.params,
    ...(patchInfo ? { patch: "patch.png", patchOptimisation: patchInfo } : {}),
    command: ["scripts/backdoor.ts", ...Deno.args].join(" "),
    date: new Date().toISOString(),
    adapter: gpu.description || gpu.vendor,
    steps,
    batch: B,
    lr,
    optimizer: "AdamW betas (0.9, 0.98) eps 1e-6, weight decay 0.1 on rank>=2 tensors; " +
      "10 % linear warm-up then cosine to 0",
    testSet: join(values.data!, "test.safetensors"),
    evalTemplate: attack.evalPrompt(EVAL_TEMPLATE),
    clean: before,
    backdoored: after,
    trainSeconds: result.seconds,
    totalSeconds: (performance.now() - t0) / 1000,
    log: result.log,
  };
  await saveClip(clip, config, tokenizer, values.out!, {
    "backdoor.json": record,
    ...(patchPng ? { "patch.png": patchPng } : {}),
  });
  clip.dispose();
  console.log(JSON.stringify({
    out: values.out,
    attack: name,
    target: targetName,
    ca_clean: before.ca,
    asr_clean: before.asr,
    ca: after.ca,
    asr: after.asr,
    seconds: record.totalSeconds,
  }));
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`backdoor: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
