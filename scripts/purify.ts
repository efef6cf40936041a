// Antidote's main job: purify a suspicious CLIP with CBPT (trigger inversion, then class-wise
// prompt tuning) from a few clean labelled images. With no arguments it runs the embedded demo
// on fixtures/. Progress goes to stderr; the summary (JSON) to stdout; files to --out.

import { describePixelStats, loadClip, runWithGpu } from "../mod.ts";
import {
  describeShots,
  fewShot,
  listLabelled,
  loadLabelled,
  readClassNames,
} from "../src/cbpt/data.ts";
import { loadTokenizer, parseFlags, stderrProgress, warnLine } from "../src/cli/common.ts";
import { type CbptOptions, type EvalAttack, runCbpt } from "../src/cbpt/run.ts";
import { prepareOutDir, writeCbptOutputs } from "../src/cli/outputs.ts";
import {
  stepsRun,
  TRIGGER_DEFAULTS,
  triggerDefaults,
  type TriggerSettings,
} from "../src/cbpt/trigger.ts";
import { parseSearchPatterns, type TargetSearchSettings } from "../src/cbpt/targets.ts";
import { type ThirdLoss, TUNE_DEFAULTS, type TuneSettings } from "../src/cbpt/tune.ts";
import { type ContextInit, fitContext } from "../src/cbpt/prompts.ts";
import { DEMO_FIXTURE, DEMO_TRIGGER, DEMO_TUNE, loadFixture } from "../src/lab/demo.ts";
import { attackTrigger, evalAttack } from "../src/lab/attack.ts";

const USAGE = `usage: deno run -A scripts/purify.ts --model DIR --train DIR|CSV --classes FILE
         [--shots 16] [--test DIR|CSV] [--attack NAME --target CLASS] [--out DIR]
         [--test-triggered DIR|CSV --target CLASS] (ASR on your own triggered images, labelled
         with their true classes, instead of one of the lab's attacks)
         [--resume [--force]]
         [--seed N] [--vocab PATH] [--attack-patch PNG] [stage flags]
       deno run -A scripts/purify.ts [--fixture blended|sig|...] [stage flags]
         (the demo: a backdoored fixture from fixtures/, with shorter stages)

stage 1: --search per-class|untargeted (per-class: a targeted trigger for every class, the class
         that needs the smallest L∞ bound is the suspected target, with its anomaly index;
         untargeted: the contrastive inversion below, which finds a model's sink)
         --search-steps 25 (per bound and class)  --search-batch 8 (images per class and step)
         --patterns full,columns (the trigger shapes searched: any δ, and one value per column,
         which finds SIG-like stripes; the shape whose cheapest class stands out most decides;
         add patch for Neural Cleanse's mask under a ladder of mask areas, which finds
         BadNet-like patches but false-alarms on some clean models, docs/scan.md)
         untargeted: --trigger additive|mask  --epsilon 16/255  --epsilon-ladder 32/255,64/255,128/255|none
         --min-share 0.9 (the ladder's larger bounds are tried in turn until one class takes
         this share of the triggered images)  --trigger-steps 60 (at most: a bound stops once
         16 steps keep that share and their mean loss fell by under --trigger-flat 0.02 of the
         fall so far; 0 runs every step)
         --trigger-lr 0.01 (mask: 0.1)  --tau 0.1  --trigger-batch 32  --mask-l1 0.1
         --known-trigger: skip stage 1, tune against the attack's own trigger (the oracle
         bound; attacks whose trigger is a fixed per-pixel blend: blended, sig, trojvqa, badclip)
stage 2: --recipe auto|fixed (auto: λ_bd 0.5, 1 or 2, chosen on a held-out quarter of the shots
         by clean accuracy and the inverted trigger's ASR; a given --lambda-bd means fixed)
         --n-ctx auto (16, 8 or 4: the most that fits the model's context)
         --ctx-init random|"a photo of a"  --third margin|anchor|kl|none
         --lambda-bd 1  --lambda-3 2  --margin 0.1  --optimizer adam|sgd  --lr 0.01  --momentum 0.9
         --weight-decay 5e-4  --batch 256  --epochs 600  --warmup-epochs 1  --views 1
         (CoOp's recipe: --optimizer sgd --lr 0.002 --batch 32 --epochs 50 --views 4
          --third anchor --lambda-3 8)
resume:  --resume continues the run in --out (a finished stage 1 is not run again; stage 2 goes
         on from its checkpoint); other settings than the run's are refused, --force takes them
         --checkpoint-every 10 (seconds between stage 2's checkpoints; 0: every epoch)`;

const str = { type: "string" } as const;
const { values, positionals } = parseFlags({
  args: Deno.args,
  allowPositionals: true,
  options: {
    model: str,
    train: str,
    classes: str,
    test: str,
    shots: { type: "string", default: "16" },
    attack: str,
    target: str,
    "test-triggered": str,
    "attack-patch": str,
    fixture: str,
    out: { type: "string", default: "out" },
    resume: { type: "boolean" },
    force: { type: "boolean" },
    "checkpoint-every": str,
    seed: { type: "string", default: "1" },
    vocab: str,
    trigger: str,
    search: str,
    recipe: str,
    "search-steps": str,
    "search-batch": str,
    patterns: str,
    "known-trigger": { type: "boolean" },
    epsilon: str,
    "epsilon-ladder": str,
    "min-share": str,
    "trigger-steps": str,
    "trigger-flat": str,
    "trigger-lr": str,
    tau: str,
    "trigger-batch": str,
    "mask-l1": str,
    "n-ctx": str,
    "ctx-init": str,
    third: str,
    "lambda-bd": str,
    "lambda-3": str,
    margin: str,
    lr: str,
    momentum: str,
    optimizer: str,
    "weight-decay": str,
    batch: str,
    epochs: str,
    "warmup-epochs": str,
    views: str,
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if (positionals.length) {
  console.error(`error: unexpected argument ${positionals[0]}\n${USAGE}`);
  Deno.exit(2);
}
if (values["test-triggered"] && (values.attack || !values.target || !values.test)) {
  console.error(
    "error: --test-triggered goes with --target CLASS and --test DIR|CSV, not with --attack",
  );
  Deno.exit(2);
}
if (values.force && !values.resume) {
  console.error("error: --force goes with --resume (it takes changed settings on resuming)");
  Deno.exit(2);
}

/**
 * Each number flag's range: [least, most], and whether the least is excluded. Checked before
 * anything is loaded, so `--epochs 0` or `--lr=-1` cannot run to a "purified" output.
 */
const RANGES: Record<string, [number, number, boolean?]> = {
  "min-share": [0, 1, true],
  epsilon: [0, 1, true],
  "epsilon-ladder": [0, 1, true],
  "trigger-steps": [1, 100_000],
  "trigger-flat": [0, 1],
  "trigger-lr": [0, 10, true],
  tau: [0, 100, true],
  "trigger-batch": [2, 4096],
  "mask-l1": [0, 1000],
  "lambda-bd": [0, 1000],
  "lambda-3": [0, 1000],
  margin: [0, 2],
  lr: [0, 10, true],
  momentum: [0, 0.999999],
  "weight-decay": [0, 1],
  batch: [1, 100_000],
  epochs: [1, 1_000_000],
  "warmup-epochs": [0, 1_000_000],
  views: [1, 64],
  "n-ctx": [1, 77],
  "search-steps": [1, 10_000],
  "search-batch": [1, 1024],
  seed: [0, 2 ** 32 - 1],
  shots: [0, 1_000_000],
  "checkpoint-every": [0, 86_400],
};

/** --target's class index, for `flag` (which needs it). */
function targetIndex(classNames: readonly string[], flag: string): number {
  if (!values.target) throw new Error(`${flag} needs --target CLASS (the attacker's class)`);
  const target = classNames.indexOf(values.target);
  if (target < 0) throw new Error(`--target ${values.target}: not in ${values.classes}`);
  return target;
}

/** A number flag: plain, or a fraction like 16/255, within its RANGES entry. */
function num(name: string, v: string | undefined, fallback: number, integer = false): number {
  if (v === undefined) return fallback;
  const m = /^\s*([-+0-9.eE]+)\s*(?:\/\s*([-+0-9.eE]+))?\s*$/.exec(v);
  const x = m ? Number(m[1]) / (m[2] ? Number(m[2]) : 1) : NaN;
  if (!Number.isFinite(x) || (integer && !Number.isInteger(x))) {
    throw new Error(`--${name} ${v}: expected ${integer ? "an integer" : "a number"}`);
  }
  const r = RANGES[name];
  if (r && (x > r[1] || (r[2] ? x <= r[0] : x < r[0]))) {
    throw new Error(`--${name} ${v}: expected a value in ${r[2] ? "(" : "["}${r[0]}, ${r[1]}]`);
  }
  return x;
}

function atLeast1(name: string, x: number): number {
  if (!(x >= 1)) throw new Error(`--${name} ${x}: expected a whole number >= 1`);
  return x;
}

function oneOf<T extends string>(
  name: string,
  v: string | undefined,
  allowed: readonly T[],
  d: T,
): T {
  if (v === undefined) return d;
  if (!allowed.includes(v as T)) {
    throw new Error(`--${name} ${v}: expected one of ${allowed.join(", ")}`);
  }
  return v as T;
}

/** Stage settings from the flags, over the kind's defaults and `overrides` (the demo's). */
function stageSettings(
  overrides: Partial<TriggerSettings> = {},
  S: TuneSettings = TUNE_DEFAULTS,
): {
  trigger: TriggerSettings;
  tune: TuneSettings;
  nCtx: number | "auto";
  ctxInit: ContextInit;
  search: "per-class" | "untargeted";
  targetSearch: Partial<TargetSearchSettings>;
  recipe: "auto" | "fixed";
} {
  const v = values;
  const kind = oneOf<TriggerSettings["kind"]>(
    "trigger",
    v.trigger,
    ["additive", "mask"],
    overrides.kind ?? TRIGGER_DEFAULTS.kind,
  );
  const Tk = { ...triggerDefaults(kind), ...overrides };
  const minShare = num("min-share", v["min-share"], Tk.minShare);
  if (!(minShare > 0 && minShare <= 1)) {
    throw new Error(`--min-share ${v["min-share"]}: expected a share in (0, 1]`);
  }
  return {
    trigger: {
      kind,
      epsilon: num("epsilon", v.epsilon, Tk.epsilon),
      epsilonLadder: v["epsilon-ladder"] === undefined
        ? Tk.epsilonLadder
        : v["epsilon-ladder"] === "none"
        ? []
        : v["epsilon-ladder"].split(",").map((e) => {
          const x = num("epsilon-ladder", e, NaN);
          if (!(x > 0)) throw new Error(`--epsilon-ladder ${e}: expected bounds > 0`);
          return x;
        }),
      minShare,
      steps: num("trigger-steps", v["trigger-steps"], Tk.steps, true),
      flatTolerance: num("trigger-flat", v["trigger-flat"], Tk.flatTolerance),
      lr: num("trigger-lr", v["trigger-lr"], Tk.lr),
      tau: num("tau", v.tau, Tk.tau),
      batch: num("trigger-batch", v["trigger-batch"], Tk.batch, true),
      maskL1: num("mask-l1", v["mask-l1"], Tk.maskL1),
    },
    tune: {
      third: oneOf<ThirdLoss>("third", v.third, ["anchor", "margin", "kl", "none"], S.third),
      lambdaBd: num("lambda-bd", v["lambda-bd"], S.lambdaBd),
      lambda3: num("lambda-3", v["lambda-3"], S.lambda3),
      margin: num("margin", v.margin, S.margin),
      optimizer: oneOf<"sgd" | "adam">("optimizer", v.optimizer, ["sgd", "adam"], S.optimizer),
      lr: num("lr", v.lr, S.lr),
      momentum: num("momentum", v.momentum, S.momentum),
      weightDecay: num("weight-decay", v["weight-decay"], S.weightDecay),
      batch: num("batch", v.batch, S.batch, true),
      epochs: num("epochs", v.epochs, S.epochs, true),
      warmupEpochs: num("warmup-epochs", v["warmup-epochs"], S.warmupEpochs, true),
      views: num("views", v.views, S.views, true),
    },
    nCtx: v["n-ctx"] === undefined || v["n-ctx"] === "auto"
      ? "auto"
      : num("n-ctx", v["n-ctx"], 16, true),
    ctxInit: oneOf<ContextInit>("ctx-init", v["ctx-init"], ["random", "a photo of a"], "random"),
    search: oneOf<"per-class" | "untargeted">(
      "search",
      v.search,
      ["per-class", "untargeted"],
      "per-class",
    ),
    recipe: (() => {
      const given = v["lambda-bd"] !== undefined;
      if (given && v.recipe === "auto") {
        throw new Error("--recipe auto chooses λ_bd itself: it does not go with --lambda-bd");
      }
      return oneOf<"auto" | "fixed">(
        "recipe",
        v.recipe,
        ["auto", "fixed"],
        given ? "fixed" : "auto",
      );
    })(),
    targetSearch: {
      ...(v["search-steps"] === undefined ? {} : {
        stepsPerBound: atLeast1(
          "search-steps",
          num("search-steps", v["search-steps"], NaN, true),
        ),
      }),
      ...(v["search-batch"] === undefined ? {} : {
        batchPerClass: atLeast1(
          "search-batch",
          num("search-batch", v["search-batch"], NaN, true),
        ),
      }),
      ...(v.patterns === undefined
        ? {}
        : { patterns: parseSearchPatterns("patterns", v.patterns) }),
    },
  };
}

// Every flag is checked before anything is loaded; a bad one is a usage error (exit 2).
let stage: ReturnType<typeof stageSettings>, seed: number, shots: number;
let checkpointEvery: number;
try {
  stage = stageSettings(DEMO_TRIGGER, { ...TUNE_DEFAULTS, ...DEMO_TUNE });
  seed = num("seed", values.seed, 1, true);
  shots = num("shots", values.shots, 16, true);
  checkpointEvery = num("checkpoint-every", values["checkpoint-every"], 10);
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  Deno.exit(2);
}

await runWithGpu(async () => {
  const progress = stderrProgress(1000);
  const out = values.out!;
  // The output folder must take files before any expensive work starts.
  await prepareOutDir(out);
  const runFiles = {
    stateDir: out,
    resume: !!values.resume,
    force: !!values.force,
    checkpointEveryMs: 1000 * checkpointEvery,
    progress,
    say: (line: string) => console.error(line),
  };
  let opts: CbptOptions;
  if (!values.model && !values.train && !values.classes) {
    // The demo: a lab fixture, its own attack and sets.
    const name = values.fixture ?? DEMO_FIXTURE;
    const fx = await loadFixture(name);
    console.error(
      `demo: ${name} fixture (${fx.record.attack}, target ` +
        `"${fx.record.target}"), ${fx.train.set.n} clean training images, ${fx.test.set.n} test`,
    );
    opts = {
      clip: fx.clip,
      tokenizer: fx.tokenizer,
      classNames: fx.classNames,
      train: fx.train,
      test: fx.test,
      attack: fx.attack,
      ...stage,
      seed,
      ...runFiles,
    };
  } else {
    if (!values.model || !values.train || !values.classes) {
      throw new Error(`--model, --train and --classes go together\n${USAGE}`);
    }
    if (values.fixture) throw new Error("--fixture is for the demo; it does not go with --model");
    const classNames = await readClassNames(values.classes);
    const clip = await loadClip(values.model);
    const tokenizer = await loadTokenizer(values.model, values.vocab, clip.config.vocabSize);
    // Prompts that cannot fit the model's context fail now, not after stage 1.
    fitContext(tokenizer, classNames, clip.config.contextLength, stage.nCtx);
    const R = clip.config.imageResolution;
    console.error(describePixelStats(clip.pixelStats));
    const trainItems = fewShot(await listLabelled(values.train, classNames), shots, seed);
    console.error(`loading ${describeShots(trainItems, classNames, shots, values.train)} ...`);
    const train = await loadLabelled(trainItems, R, warnLine);
    const test = values.test
      ? await loadLabelled(await listLabelled(values.test, classNames), R, warnLine)
      : undefined;
    let attack: EvalAttack | undefined;
    if (values.attack) {
      const target = targetIndex(classNames, "--attack");
      attack = await evalAttack(values.attack, target, R, seed, values["attack-patch"]);
    } else if (values["test-triggered"]) {
      const target = targetIndex(classNames, "--test-triggered");
      const source = values["test-triggered"];
      const items = await listLabelled(source, classNames);
      const t = await loadLabelled(items, R, warnLine);
      console.error(`loading ${t.set.n} triggered test images from ${source} ...`);
      attack = { name: `triggered images (${source})`, target, triggered: t };
    }
    opts = {
      clip,
      tokenizer,
      classNames,
      train: { set: train.set, labels: train.labels },
      test: test && { set: test.set, labels: test.labels },
      attack,
      ...stage,
      seed,
      ...runFiles,
    };
  }
  if (values["known-trigger"]) {
    if (!opts.attack) {
      throw new Error("--known-trigger tunes against the attack's own trigger: it needs --attack");
    }
    const trigger = attackTrigger(opts.attack, opts.clip.config.imageResolution);
    opts.knownTrigger = { trigger, target: opts.attack.target };
  }
  const result = await runCbpt(opts);
  const { report } = result;
  const files = await writeCbptOutputs(out, result);
  // Fractions, as in report.json (one convention for CA and ASR everywhere).
  const frac = (
    x: number | null | undefined,
  ) => (x === undefined || x === null ? null : Number(x.toFixed(4)));
  console.log(JSON.stringify({
    out,
    files,
    suspected_target: report.suspected_target.name,
    ...(report.scan
      ? { verdict: report.scan.verdict, target: report.scan.target, score: report.scan.score }
      : {}),
    ...(report.attack ? { asr_on: report.attack.name } : {}),
    // Stage 1's Adam steps over every bound tried (fewer than asked when it stopped early).
    trigger_steps: stepsRun(report.trigger.attempts),
    ca_before: frac(report.ca_before),
    asr_before: frac(report.asr_before),
    ca_after: frac(report.ca_after),
    asr_after: frac(report.asr_after),
    seconds: {
      trigger: report.trigger.seconds,
      prompts: report.prompts.seconds,
      total: report.seconds,
    },
  }));
  opts.clip.dispose();
});
