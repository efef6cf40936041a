// Measures the scan over the zoo (fixtures/zoo.json: clean and backdoored CLIPs of both fixture
// families, each with the truth of how it was made): AUROC of the score, the verdict's accuracy
// at the default threshold, the target's accuracy, seconds per model. Writes docs/scan.json,
// the table in docs/scan.md (between its ZOO markers) and the ROC curve docs/scan-roc.png.
//
//   deno run -A scripts/scan-zoo.ts [--only name,name] [--seed 1] [--resume]

import { join } from "node:path";
import { loadClip, runWithGpu } from "../mod.ts";
import { fixturesDir } from "../src/lab/demo.ts";
import { writeAtomic } from "../src/io/files.ts";
import { loadTokenizer, parseFlags, stderrProgress, wholeFlag } from "../src/cli/common.ts";
import { scanModel } from "../src/cbpt/scan.ts";
import {
  ANOMALY_THRESHOLD,
  anomalyIndex,
  MAD_FLOORS,
  strongestSearch,
  TARGET_SEARCH_DEFAULTS,
  targetVerdict,
} from "../src/cbpt/targets.ts";
import { loadFixtureSet } from "../src/lab/fixtures.ts";
import { markdownTable, wrapProse } from "../src/lab/results.ts";

interface ZooEntry {
  name: string;
  /** Model folder, relative to fixtures/. */
  dir: string;
  family: string;
  /** The attacker's class, or null for a clean model. */
  target: string | null;
  made: string;
  /** Made after the statistic was fixed, to judge it: 1 (before pooling the shapes), 2 (after). */
  heldOut?: number;
}

interface ZooRow extends ZooEntry {
  verdict: string;
  suspect: string | null;
  score: number;
  /** The highest of the shapes' own scores (the statistic before pooling). */
  unpooled?: number;
  /** The trigger shape the verdict rests on, or "pooled" (its evidence over all shapes). */
  pattern: string;
  seconds: number;
  /**
   * Each shape's class levels (rungs) and seconds, so the statistic can be studied, and a shape
   * added, without rescanning the others (--resume scans only the shapes a row lacks).
   */
  probes: Record<string, { levels: Record<string, number>; seconds: number }>;
}

/** A row of an older scan.json (one shape, "full", as `levels`) in today's form. */
function upgradeRow(r: ZooRow & { levels?: Record<string, number> }): ZooRow {
  if (r.probes) return r;
  const { levels, ...rest } = r;
  return { ...rest, pattern: "full", probes: { full: { levels: levels!, seconds: r.seconds } } };
}

const { values } = parseFlags({
  args: Deno.args,
  options: {
    only: { type: "string" },
    resume: { type: "boolean" },
    seed: { type: "string", default: "1" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log("usage: deno run -A scripts/scan-zoo.ts [--only name,name] [--seed 1]");
  Deno.exit(0);
}

/** Area under the ROC curve: P(score of a backdoored model > a clean one's), ties count half. */
export function auroc(pos: readonly number[], neg: readonly number[]): number {
  let s = 0;
  for (const p of pos) for (const n of neg) s += p > n ? 1 : p === n ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

function rocSvg(pos: number[], neg: number[], threshold: number): string {
  const cuts = [Infinity, ...[...pos, ...neg].sort((a, b) => b - a), -Infinity];
  const pts = cuts.map((t) => [
    neg.filter((x) => x >= t).length / neg.length,
    pos.filter((x) => x >= t).length / pos.length,
  ]);
  const W = 360,
    P = 40,
    X = (f: number) => P + f * (W - 2 * P),
    Y = (f: number) => W - P - f * (W - 2 * P);
  const at = [
    neg.filter((x) => x >= threshold).length / neg.length,
    pos.filter((x) => x >= threshold).length / pos.length,
  ];
  const path = pts.map(([f, t], i) => `${i ? "L" : "M"}${X(f).toFixed(1)},${Y(t).toFixed(1)}`).join(
    " ",
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${W}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<line x1="${X(0)}" y1="${Y(0)}" x2="${X(1)}" y2="${Y(1)}" stroke="#bbb" stroke-dasharray="4 4"/>
<rect x="${X(0)}" y="${Y(1)}" width="${X(1) - X(0)}" height="${
    Y(0) - Y(1)
  }" fill="none" stroke="#333"/>
<path d="${path}" fill="none" stroke="#c0392b" stroke-width="2"/>
<circle cx="${X(at[0])}" cy="${Y(at[1])}" r="4" fill="#2c3e50"/>
<text x="${X(at[0]) + 6}" y="${Y(at[1]) + 14}">threshold ${threshold}</text>
<text x="${W / 2}" y="${W - 8}" text-anchor="middle">false-alarm rate (clean models)</text>
<text x="12" y="${W / 2}" text-anchor="middle" transform="rotate(-90 12 ${
    W / 2
  })">detection rate (backdoored)</text>
<text x="${W / 2}" y="22" text-anchor="middle">scan ROC: AUROC ${
    auroc(pos, neg).toFixed(3)
  } (${pos.length} backdoored, ${neg.length} clean)</text>
</svg>`;
}

await runWithGpu(async () => {
  const zoo: ZooEntry[] =
    JSON.parse(await Deno.readTextFile(join(fixturesDir(), "zoo.json"))).models;
  const only = values.only?.split(",");
  const seed = wholeFlag("seed", values.seed, 1, 0, 2 ** 32 - 1);
  const jsonPath = join("docs", "scan.json");
  // --resume keeps the rows of an earlier (interrupted) run and scans only what is missing.
  const rows: ZooRow[] = values.resume
    ? (JSON.parse(await Deno.readTextFile(jsonPath)).rows as ZooRow[])
      .filter((r) => zoo.some((z) => z.name === r.name)).map(upgradeRow)
      // zoo.json is the truth of how each model was made: a kept row takes its fields anew.
      .map((r) => ({ ...r, ...zoo.find((z) => z.name === r.name)! }))
    : [];
  const patterns = TARGET_SEARCH_DEFAULTS.patterns;
  for (const z of zoo.filter((z) => !only || only.includes(z.name))) {
    const kept = rows.find((r) => r.name === z.name);
    const missing = patterns.filter((p) => !kept?.probes[p]);
    if (missing.length === 0) continue;
    const dir = join(fixturesDir(), z.dir);
    const clip = await loadClip(dir);
    const tokenizer = await loadTokenizer(dir, undefined, clip.config.vocabSize);
    const R = clip.config.imageResolution;
    const few = await loadFixtureSet(join(fixturesDir(), "data", "fewshot.safetensors"), R);
    console.error(`scan: ${z.name} (${z.family}, ${z.target ? `target ${z.target}` : "clean"})`);
    const r = await scanModel({
      clip,
      tokenizer,
      classNames: few.classNames,
      train: { set: { pixels: few.images01, n: few.n, size: R }, labels: few.labels },
      seed,
      settings: { patterns: missing },
      progress: stderrProgress(5000),
    });
    const cheapest = r.report.classes.reduce((a, c) => (c.level < a.level ? c : a)).name;
    const row: ZooRow = kept ?? {
      ...z,
      verdict: r.verdict,
      suspect: cheapest,
      score: r.score,
      pattern: r.report.pattern,
      seconds: 0,
      probes: {},
    };
    for (const s of r.searches) {
      row.probes[s.pattern] = {
        levels: Object.fromEntries(s.costs.map((c, k) => [few.classNames[k], c.level])),
        seconds: s.seconds,
      };
    }
    if (!kept) rows.push(row);
    console.error(
      `  ${r.verdict}, cheapest ${cheapest}, score ${r.score.toFixed(2)}, ${
        r.report.seconds.toFixed(0)
      } s`,
    );
    clip.dispose();
    // Written after every model, so an interrupted run keeps what it measured (--resume).
    await writeAtomic(jsonPath, JSON.stringify({ rows }, null, 2) + "\n");
  }
  // The levels are what each scan measured; score, suspect and verdict are derived from them
  // with the library's statistic, so a row kept by --resume is judged as a fresh one would be.
  // Each shape is judged as scanModel judges it (its own MAD floor; the suspect's evidence pooled
  // over the shapes; the shape whose suspect stands out most decides, "full" on a tie).
  for (const r of rows) {
    r.seconds = 0;
    const shapes = patterns.map((p) => {
      const probe = r.probes[p];
      if (!probe) throw new Error(`${r.name}: no ${p} levels in ${jsonPath}; rerun with --resume`);
      r.seconds += probe.seconds;
      const levels = Object.values(probe.levels);
      const cheapest = levels.indexOf(Math.min(...levels));
      return { pattern: p, anomaly: anomalyIndex(levels, MAD_FLOORS[p]), cheapest, probe };
    });
    const decided = strongestSearch(shapes);
    const v = targetVerdict(decided, ANOMALY_THRESHOLD, shapes);
    r.score = v.score;
    // The score before the shapes were pooled (each shape's cheapest class on its own), kept
    // beside it so the table shows what pooling changed.
    r.unpooled = Math.max(...shapes.map((s) => s.anomaly[s.cheapest]));
    r.suspect = Object.keys(decided.probe.levels)[decided.cheapest];
    // "pooled" where the suspect's indices over the shapes, together, beat its own.
    r.pattern = v.score > decided.anomaly[decided.cheapest] ? "pooled" : decided.pattern;
    r.verdict = v.verdict;
  }
  const pos = rows.filter((r) => r.target).map((r) => r.score);
  const neg = rows.filter((r) => !r.target).map((r) => r.score);
  const correct = rows.filter((r) => (r.verdict === "backdoored") === !!r.target).length;
  const bd = rows.filter((r) => r.target);
  const summary = {
    models: rows.length,
    backdoored: pos.length,
    clean: neg.length,
    auroc: pos.length && neg.length ? auroc(pos, neg) : null,
    auroc_unpooled: pos.length && neg.length
      ? auroc(
        rows.filter((r) => r.target).map((r) => r.unpooled!),
        rows.filter((r) => !r.target).map((r) => r.unpooled!),
      )
      : null,
    // Each held-out round on its own: its backdoored models against its clean ones.
    held_out: [...new Set(rows.flatMap((r) => (r.heldOut ? [r.heldOut] : [])))].sort().map(
      (round) => {
        const of = rows.filter((r) => r.heldOut === round);
        const p = of.filter((r) => r.target).map((r) => r.score);
        const n = of.filter((r) => !r.target).map((r) => r.score);
        return {
          round,
          backdoored: p.length,
          clean: n.length,
          detected: of.filter((r) => r.target && r.verdict === "backdoored").length,
          false_alarms: of.filter((r) => !r.target && r.verdict === "backdoored").length,
          auroc: p.length && n.length ? auroc(p, n) : null,
        };
      },
    ),
    threshold: ANOMALY_THRESHOLD,
    verdict_accuracy: correct / rows.length,
    false_alarms: rows.filter((r) => !r.target && r.verdict === "backdoored").length,
    detected: bd.filter((r) => r.verdict === "backdoored").length,
    target_accuracy: bd.length ? bd.filter((r) => r.suspect === r.target).length / bd.length : null,
    seconds_median: [...rows.map((r) =>
      r.seconds
    )].sort((a, b) => a - b)[Math.floor(rows.length / 2)],
  };
  console.log(JSON.stringify(summary));
  await writeAtomic(jsonPath, JSON.stringify({ summary, rows }, null, 2) + "\n");
  if (only) return; // a partial run does not rewrite docs/scan.md
  const table = markdownTable(
    [
      "model",
      "family",
      "made",
      "truth",
      "verdict",
      "cheapest class",
      "shape",
      "score",
      "unpooled",
      "s",
    ],
    rows.map((r) => [
      r.name,
      r.family,
      r.made,
      r.target ?? "clean",
      r.verdict === "backdoored" ? `**backdoored**` : r.verdict,
      r.suspect ?? "",
      r.pattern,
      r.score.toFixed(2),
      r.unpooled!.toFixed(2),
      r.seconds.toFixed(0),
    ]),
  );
  const pct = (x: number | null) => (x === null ? "–" : `${(100 * x).toFixed(1)} %`);
  const block = [
    "<!-- ZOO:BEGIN (scripts/scan-zoo.ts writes this block) -->",
    "",
    table,
    "",
    wrapProse(
      `AUROC **${
        summary.auroc?.toFixed(3)
      }** over ${pos.length} backdoored and ${neg.length} clean ` +
        `models; at the default threshold ${ANOMALY_THRESHOLD}: verdict accuracy ` +
        `${pct(summary.verdict_accuracy)}, ${summary.detected}/${pos.length} detected, ` +
        `${summary.false_alarms} false alarms; target named right on ${
          pct(summary.target_accuracy)
        } ` +
        `of the backdoored models; median ${summary.seconds_median.toFixed(0)} s a model. ` +
        `Before pooling the shapes (the "unpooled" column) the AUROC is ` +
        `${summary.auroc_unpooled?.toFixed(3)}. ` +
        summary.held_out.map((h) =>
          `Held-out round ${h.round} alone (${h.backdoored} backdoored, ${h.clean} clean): ` +
          `AUROC ${h.auroc?.toFixed(3)}, ${h.detected}/${h.backdoored} detected, ` +
          `${h.false_alarms} false alarms.`
        ).join(" "),
    ),
    "",
    "![ROC](scan-roc.png)",
    "",
    "<!-- ZOO:END -->",
  ].join("\n");
  const docPath = join("docs", "scan.md");
  const doc = await Deno.readTextFile(docPath);
  const a = doc.indexOf("<!-- ZOO:BEGIN"), b = doc.indexOf("<!-- ZOO:END -->");
  if (a < 0 || b < 0) throw new Error(`${docPath}: no ZOO markers to write the table between`);
  await writeAtomic(docPath, doc.slice(0, a) + block + doc.slice(b + "<!-- ZOO:END -->".length));
  const { sharp } = await import("../src/io/sharp.ts");
  const svg = rocSvg(pos, neg, ANOMALY_THRESHOLD);
  await writeAtomic(
    join("docs", "scan-roc.png"),
    new Uint8Array(await sharp(new TextEncoder().encode(svg)).png().toBuffer()),
  );
});
