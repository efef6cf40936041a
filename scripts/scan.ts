// Is this CLIP backdoored, and toward which class? For every class a targeted trigger is
// inverted on a few clean images of the other classes while its L∞ bound climbs; a backdoor's
// target needs far less than the rest (src/cbpt/targets.ts, docs/scan.md). The evidence goes to
// stderr, the verdict to stdout (one JSON object with --json), and with --out a report.json,
// evidence.csv and every class's trigger picture.

import { join } from "node:path";
import { describePixelStats, loadClip, runWithGpu } from "../mod.ts";
import {
  describeShots,
  fewShot,
  listLabelled,
  loadLabelled,
  readClassNames,
} from "../src/cbpt/data.ts";
import { loadTokenizer, parseFlags, stderrProgress, warnLine } from "../src/cli/common.ts";
import { evidenceLines, scanModel } from "../src/cbpt/scan.ts";
import { triggerPicture } from "../src/cbpt/trigger.ts";
import { parseSearchPatterns, type SearchPattern } from "../src/cbpt/targets.ts";
import type { ImageSet } from "../src/io/images.ts";
import { writeAtomic } from "../src/io/files.ts";
import { writePng } from "../src/io/png.ts";
import { svgToPng } from "../src/cli/figure.ts";
import { scanFigureSvg } from "../src/cli/scan_figure.ts";
import { fixturesDir } from "../src/lab/demo.ts";
import { loadFixtureSet } from "../src/lab/fixtures.ts";

const USAGE = `usage: deno run -A scripts/scan.ts --model DIR --train DIR|CSV --classes FILE
         [--shots 16] [--seed 1] [--vocab PATH] [--json] [--out DIR] [--threshold 2]
         [--search-steps 25] [--search-batch 8] [--patterns full,columns]
         (--patterns: the trigger shapes searched; columns finds SIG-like stripes; patch, a
         mask under a ladder of areas, finds BadNet-like patches but false-alarms on some
         clean models: docs/scan.md)
       deno run -A scripts/scan.ts --fixture clean|badnet|...   (a lab model and its 16 shots)`;

const str = { type: "string" } as const;
const { values } = parseFlags({
  args: Deno.args,
  options: {
    model: str,
    train: str,
    classes: str,
    fixture: str,
    shots: { type: "string", default: "16" },
    seed: { type: "string", default: "1" },
    vocab: str,
    json: { type: "boolean" },
    out: str,
    threshold: str,
    "search-steps": str,
    "search-batch": str,
    patterns: str,
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}

function whole(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isInteger(x) || x < min) {
    console.error(`error: --${name} ${v}: expected a whole number >= ${min}`);
    Deno.exit(2);
  }
  return x;
}
const shots = whole("shots", values.shots, 0)!;
const seed = whole("seed", values.seed, 0)!;
const steps = whole("search-steps", values["search-steps"], 1);
const batch = whole("search-batch", values["search-batch"], 1);
let patterns: SearchPattern[] | undefined;
try {
  patterns = values.patterns === undefined
    ? undefined
    : parseSearchPatterns("patterns", values.patterns);
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  Deno.exit(2);
}
const threshold = values.threshold === undefined ? undefined : Number(values.threshold);
if (threshold !== undefined && !Number.isFinite(threshold)) {
  console.error(`error: --threshold ${values.threshold}: expected a number`);
  Deno.exit(2);
}
const withFixture = ["model", "train", "classes"].filter((k) => values[k as "model"] !== undefined);
if (values.fixture && withFixture.length) {
  // --fixture brings its own model and shots: a --model beside it would be ignored unseen.
  console.error(
    `error: --fixture ${values.fixture} brings its model and shots; drop ` +
      `${withFixture.map((k) => `--${k}`).join(", ")} (or --fixture)`,
  );
  Deno.exit(2);
}
if (!values.fixture && !(values.model && values.train && values.classes)) {
  console.error(`error: --model, --train and --classes go together (or --fixture)\n${USAGE}`);
  Deno.exit(2);
}

await runWithGpu(async () => {
  let model: string, classNames: string[], train: { set: ImageSet; labels: number[] };
  let clip, tokenizer;
  if (values.fixture) {
    model = join(fixturesDir(), values.fixture);
    clip = await loadClip(model);
    tokenizer = await loadTokenizer(model, values.vocab, clip.config.vocabSize);
    const R = clip.config.imageResolution;
    const few = await loadFixtureSet(join(fixturesDir(), "data", "fewshot.safetensors"), R);
    classNames = few.classNames;
    train = { set: { pixels: few.images01, n: few.n, size: R }, labels: few.labels };
  } else {
    model = values.model!;
    classNames = await readClassNames(values.classes!);
    clip = await loadClip(model);
    tokenizer = await loadTokenizer(model, values.vocab, clip.config.vocabSize);
    console.error(describePixelStats(clip.pixelStats));
    const items = fewShot(await listLabelled(values.train!, classNames), shots, seed);
    console.error(`loading ${describeShots(items, classNames, shots, values.train!)} ...`);
    const l = await loadLabelled(items, clip.config.imageResolution, warnLine);
    train = { set: l.set, labels: l.labels };
  }
  const r = await scanModel({
    clip,
    tokenizer,
    classNames,
    train,
    seed,
    threshold,
    settings: {
      ...(steps ? { stepsPerBound: steps } : {}),
      ...(batch ? { batchPerClass: batch } : {}),
      ...(patterns ? { patterns } : {}),
    },
    progress: stderrProgress(1000),
  });
  console.error(`how little each class needs (per-class targeted ${r.report.pattern} triggers):`);
  for (const line of evidenceLines(r.report)) console.error(line);
  if (values.out) {
    const out = values.out;
    await Deno.mkdir(join(out, "triggers"), { recursive: true });
    await writeAtomic(
      join(out, "report.json"),
      JSON.stringify({ model, seed, shots_total: train.set.n, ...r.report }, null, 2) + "\n",
    );
    // Every shape's evidence, then (with two shapes or more) each class's anomaly pooled over
    // them; the verdict's shape is the report's `pattern`.
    const rows = r.report.probes.flatMap((p) =>
      p.classes.map((c) =>
        [p.pattern, JSON.stringify(c.name), c.level.toFixed(4), c.crossed, c.anomaly.toFixed(4)]
          .join(",")
      )
    );
    if (r.report.probes.length > 1) {
      for (const c of r.report.pooled) {
        rows.push(["pooled", JSON.stringify(c.name), "", "", c.anomaly.toFixed(4)].join(","));
      }
    }
    await writeAtomic(
      join(out, "evidence.csv"),
      ["pattern,class,level,crossed,anomaly", ...rows].join("\n") + "\n",
    );
    // triggers/ holds the verdict's shape; triggers-<shape>/ the others.
    for (const s of r.searches) {
      const sub = s === r.search ? "triggers" : `triggers-${s.pattern}`;
      await Deno.mkdir(join(out, sub), { recursive: true });
      for (const [k, t] of s.triggers.entries()) {
        const name = classNames[k].replace(/[^A-Za-z0-9_-]+/g, "_");
        await writePng(join(out, sub, `${k}-${name}.png`), triggerPicture(t), t.size);
      }
    }
    // The evidence as one figure: each class's ε and anomaly, the verdict, the cheapest trigger.
    const figure = await scanFigureSvg(r.report, r.search.trigger);
    await writeAtomic(join(out, "scan.png"), await svgToPng(figure));
  }
  const summary = {
    verdict: r.verdict,
    target: r.target,
    score: r.score,
    pattern: r.report.pattern,
    seconds: r.report.seconds,
  };
  if (values.json) console.log(JSON.stringify(summary));
  else {
    console.log(
      r.verdict === "backdoored"
        ? `backdoored: target "${r.target}" (anomaly ${r.score.toFixed(2)})`
        : `no evidence of a backdoor (highest anomaly ${r.score.toFixed(2)})`,
    );
  }
  clip.dispose();
});
