// The backdoor lab's table: for each attack fixture (fixtures/<attack>) and each defence (none,
// cbpt, coop, finetune), CA on the fixture test set and ASR on its triggered non-target images,
// over several seeds (mean ± sample std). Writes docs/results.json (cells selected with --attack
// and --defence replace their old values; the others are kept), docs/results.md and
// docs/results.png. Progress on stderr; each cell as a JSON line on stdout.
//
//   deno run -A scripts/evaluate.ts [--attack badnet,sig] [--defence cbpt,none] [--seeds 3]
//     [--fixtures fixtures] [--out docs] [--epochs N] [--trigger-steps N] [--trigger-batch N]
//     [--views N]   (stage settings default to the demo's, src/lab/demo.ts)
//     [--add-seeds] (a cell already in results.json with fewer seeds and the same settings
//                    keeps its seeds and runs only the missing ones up to --seeds)

import { parseFlags, stderrProgress } from "../src/cli/common.ts";
import { join } from "node:path";
import { ATTACK_NAMES } from "../src/attacks/index.ts";
import { DEMO_TRIGGER, DEMO_TUNE, fixturesDir, loadFixture } from "../src/lab/demo.ts";
import { writeAtomic } from "../src/io/files.ts";
import { TRIGGER_DEFAULTS } from "../src/cbpt/trigger.ts";
import { TUNE_DEFAULTS } from "../src/cbpt/tune.ts";
import { fitContext } from "../src/cbpt/prompts.ts";
import { type Defence, DEFENCES, runDefence } from "../src/lab/defences.ts";
import { type ResultRow, resultsChartSvg, resultsMarkdown } from "../src/lab/results.ts";
import { runWithGpu } from "../mod.ts";

const USAGE = "usage: evaluate.ts [--attack a,b] [--defence d,e] [--seeds 3] [--fixtures DIR] " +
  "[--out docs] [--epochs N] [--trigger-steps N] [--trigger-batch N] [--views N] " +
  "[--finetune-epochs N] [--tables-only] [--add-seeds]";

function list<T extends string>(flag: string, v: string | undefined, all: readonly T[]): T[] {
  if (!v) return [...all];
  const out = v.split(",").map((s) => s.trim()).filter(Boolean);
  for (const x of out) {
    if (!(all as readonly string[]).includes(x)) {
      throw new Error(`--${flag} ${x}: expected one of ${all.join(", ")}`);
    }
  }
  return out as T[];
}

function positiveInt(flag: string, v: string | undefined, d: number): number {
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${flag} ${v}: expected an integer ≥ 1`);
  return n;
}

const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (n − 1); 0 for a single seed. */
const stdOf = (xs: number[]) => {
  if (xs.length < 2) return 0;
  const m = meanOf(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};

const { values } = parseFlags({
  args: Deno.args,
  options: {
    attack: { type: "string" },
    defence: { type: "string" },
    seeds: { type: "string", default: "3" },
    fixtures: { type: "string" },
    out: { type: "string", default: "docs" },
    epochs: { type: "string" },
    "trigger-steps": { type: "string" },
    "trigger-batch": { type: "string" },
    "finetune-epochs": { type: "string" },
    "tables-only": { type: "boolean" },
    "add-seeds": { type: "boolean" },
    views: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}

/** results.md and results.png from the rows. */
async function writeTables(rows: ResultRow[], out: string): Promise<void> {
  await writeAtomic(join(out, "results.md"), resultsMarkdown(rows));
  const { sharp } = await import("../src/io/sharp.ts");
  const svg = resultsChartSvg(rows);
  await writeAtomic(
    join(out, "results.png"),
    new Uint8Array(await sharp(new TextEncoder().encode(svg)).png().toBuffer()),
  );
  console.error(`wrote results.md and results.png in ${out}`);
}

/**
 * The fixtures to evaluate: the lab's attacks by name, and models other code made by their folder
 * under fixtures/ (e.g. family2/badnet-sandal); by default every lab attack and every family2
 * model with a trigger.json.
 */
async function fixtureNames(v: string | undefined, dir: string): Promise<string[]> {
  if (v) {
    const out = v.split(",").map((s) => s.trim()).filter(Boolean);
    for (const x of out) {
      const known = (ATTACK_NAMES as readonly string[]).includes(x) ||
        await Deno.stat(join(dir, x, "backdoor.json")).then(() => true, () => false);
      if (!known) {
        throw new Error(
          `--attack ${x}: expected one of ${ATTACK_NAMES.join(", ")} or a ` +
            `fixture folder under ${dir}`,
        );
      }
    }
    return out;
  }
  const family: string[] = [];
  const fam = join(dir, "family2");
  const exists = await Deno.stat(fam).then(() => true, () => false);
  for await (const e of exists ? Deno.readDir(fam) : []) {
    const has = await Deno.stat(join(dir, "family2", e.name, "trigger.json")).then(
      () => true,
      () => false,
    );
    if (e.isDirectory && has) family.push(`family2/${e.name}`);
  }
  return [...ATTACK_NAMES, ...family.sort()];
}

await runWithGpu(async () => {
  const dir0 = values.fixtures ?? fixturesDir();
  const attacks = await fixtureNames(values.attack, dir0);
  const defences = list<Defence>("defence", values.defence, DEFENCES);
  const seeds = positiveInt("seeds", values.seeds, 3);
  const dir = dir0;
  const trigger = {
    ...TRIGGER_DEFAULTS,
    ...DEMO_TRIGGER,
    steps: positiveInt("trigger-steps", values["trigger-steps"], DEMO_TRIGGER.steps!),
    batch: positiveInt("trigger-batch", values["trigger-batch"], DEMO_TRIGGER.batch!),
  };
  const tune = {
    ...TUNE_DEFAULTS,
    ...DEMO_TUNE,
    epochs: positiveInt("epochs", values.epochs, DEMO_TUNE.epochs!),
    views: positiveInt("views", values.views, DEMO_TUNE.views!),
  };
  const finetuneEpochs = positiveInt("finetune-epochs", values["finetune-epochs"], 30);
  const resultsPath = join(values.out!, "results.json");
  let rows: ResultRow[] = [];
  try {
    rows = JSON.parse(await Deno.readTextFile(resultsPath));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new Error(`${resultsPath}: cannot read the earlier results (${(e as Error).message})`);
    }
  }
  if (values["tables-only"]) {
    await writeTables(rows, values.out!);
    return;
  }
  const progress = stderrProgress(5000);
  for (const attack of attacks) {
    const fx = await loadFixture(attack, dir);
    try {
      for (const defence of defences) {
        const cas: number[] = [], asrs: number[] = [], steps: number[] = [];
        let seconds = 0;
        // Zero-shot CLIP has no randomness: one run stands for every seed.
        const runs = defence === "none" ? 1 : seeds;
        const stage = {
          trigger_steps: trigger.steps,
          trigger_batch: trigger.batch,
          trigger_flat: trigger.flatTolerance,
        };
        const settings: ResultRow["settings"] = defence === "cbpt"
          ? { ...stage, ...tune }
          : defence === "coop"
          ? { ...tune, lambdaBd: 0, lambda3: 0, third: "none" }
          : defence === "finetune"
          ? { epochs: finetuneEpochs, batch: 32 }
          : {};
        let first = 1;
        const had = rows.find((r) => r.attack === attack && r.defence === defence);
        if (values["add-seeds"] && had) {
          // Seeds already measured with these very settings are kept; only the rest run.
          const canon = (x: object) => JSON.stringify(Object.entries(x).sort());
          if (canon(had.settings) !== canon(settings)) {
            throw new Error(
              `--add-seeds: ${attack} / ${defence} in ${resultsPath} was measured with other ` +
                `settings; run it again without --add-seeds`,
            );
          }
          cas.push(...had.ca.slice(0, runs));
          asrs.push(...had.asr.slice(0, runs));
          steps.push(...(had.stage1_steps ?? []).slice(0, runs));
          seconds = had.seconds * (cas.length / had.seeds);
          first = cas.length + 1;
          console.error(
            `== ${attack} / ${defence}: seeds 1-${cas.length} kept from ${resultsPath}`,
          );
        }
        for (let seed = first; seed <= runs; seed++) {
          console.error(`== ${attack} / ${defence} / seed ${seed}`);
          const r = await runDefence(defence, {
            clip: fx.clip,
            tokenizer: fx.tokenizer,
            classNames: fx.classNames,
            train: fx.train,
            test: fx.test,
            attack: fx.attack,
            trigger,
            tune,
            nCtx: fitContext(fx.tokenizer, fx.classNames, fx.clip.config.contextLength, "auto")
              .nCtx,
            seed,
            modelDir: join(dir, attack),
            finetuneEpochs,
            progress,
          });
          cas.push(r.ca);
          asrs.push(r.asr);
          if (r.stage1Steps !== undefined) steps.push(r.stage1Steps);
          seconds += r.seconds;
          console.error(
            `   CA ${(100 * r.ca).toFixed(2)} %  ASR ${(100 * r.asr).toFixed(2)} %  ` +
              `${r.seconds.toFixed(1)} s`,
          );
        }
        const row: ResultRow = {
          attack,
          defence,
          target: fx.record.target,
          seeds: cas.length,
          ca_mean: meanOf(cas),
          ca_std: stdOf(cas),
          asr_mean: meanOf(asrs),
          asr_std: stdOf(asrs),
          ca: cas,
          asr: asrs,
          seconds,
          ...(steps.length === cas.length ? { stage1_steps: steps } : {}),
          settings,
        };
        console.log(JSON.stringify(row));
        rows = rows.filter((r) => !(r.attack === attack && r.defence === defence));
        rows.push(row);
        const order = (x: string) => {
          const k = ATTACK_NAMES.indexOf(x as never);
          return k >= 0 ? String(k).padStart(3, "0") : x;
        };
        rows.sort((a, b) =>
          order(a.attack).localeCompare(order(b.attack)) ||
          DEFENCES.indexOf(a.defence as Defence) - DEFENCES.indexOf(b.defence as Defence)
        );
        // Written after every cell, so an interrupted run keeps what it measured.
        await Deno.mkdir(values.out!, { recursive: true });
        await writeAtomic(resultsPath, JSON.stringify(rows, null, 2) + "\n");
      }
    } finally {
      fx.clip.dispose();
    }
  }
  await writeTables(rows, values.out!);
});
