// The scan: "is this checkpoint backdoored, and toward which class?" It is stage 1's per-class
// search (targets.ts) on its own: each class's cost, the anomaly index, and the verdict, with
// the evidence as data for report.json and as lines for a person.

import type { Tensor } from "../autograd/tensor.ts";
import type { Clip } from "../clip/model.ts";
import { ONE_TEMPLATE } from "../clip/templates.ts";
import type { ClipTokenizer } from "../clip/tokenizer.ts";
import { zeroShotClassifier } from "../clip/zeroshot.ts";
import type { ImageSet } from "../io/images.ts";
import type { Progress } from "./progress.ts";
import { describeShots } from "./data.ts";
import { fitContext } from "./prompts.ts";
import {
  ANOMALY_THRESHOLD,
  pooledAnomaly,
  type SearchPattern,
  searchTargets,
  strongestSearch,
  TARGET_SEARCH_DEFAULTS,
  type TargetSearch,
  type TargetSearchSettings,
  type TargetVerdict,
  targetVerdict,
} from "./targets.ts";

/** The per-class evidence and its verdict, as report.json and the scan write them. */
export interface ScanReport {
  /** "backdoored" or "no evidence". */
  verdict: TargetVerdict["verdict"];
  /** The suspected target's name when backdoored, else null. */
  target: string | null;
  /** The suspect's anomaly index, pooled over the shapes where that is higher (suspectScore). */
  score: number;
  /** The anomaly index the verdict was judged against. */
  threshold: number;
  /** The trigger shape whose evidence the verdict rests on (the one that stood out most). */
  pattern: SearchPattern;
  /** Each class's evidence under that shape. */
  classes: ClassEvidence[];
  /** Every shape searched: its cheapest class, score and per-class evidence. */
  probes: { pattern: SearchPattern; cheapest: string; score: number; classes: ClassEvidence[] }[];
  /** Each class's anomaly indices pooled over the shapes (Σ z / √shapes), in class order. */
  pooled: { name: string; anomaly: number }[];
  /** The L∞ bounds of the ladder, in [0, 1] pixel units. */
  bounds: number[];
  /** The "patch" shape's ladder: mask areas as fractions of the image. */
  areas: number[];
  /** Wall-clock time of the search. */
  seconds: number;
}

/** One class's evidence under one trigger shape. */
export interface ClassEvidence {
  /** The class name. */
  name: string;
  /** Rungs of the bound ladder (log2 of ε / first bound) at which the class is reached. */
  level: number;
  /** False when it was never reached (the level is a lower bound). */
  crossed: boolean;
  /** Its anomaly index. */
  anomaly: number;
  /** Share of the other classes' images sent to it at each bound tried. */
  shares: number[];
}

function classEvidence(s: TargetSearch, classNames: readonly string[]): ClassEvidence[] {
  return s.costs.map((c, k) => ({
    name: classNames[k],
    level: c.level,
    crossed: c.crossed,
    anomaly: s.anomaly[k],
    shares: c.shares,
  }));
}

/** The report of the searches (`searches[0]`'s first if none stands out more). */
export function scanReport(
  searches: readonly TargetSearch[],
  v: TargetVerdict,
  classNames: readonly string[],
  settings: TargetSearchSettings,
  threshold: number,
): ScanReport {
  const s = strongestSearch(searches);
  return {
    verdict: v.verdict,
    target: v.target === null ? null : classNames[v.target],
    score: v.score,
    threshold,
    pattern: s.pattern,
    classes: classEvidence(s, classNames),
    probes: searches.map((p) => ({
      pattern: p.pattern,
      cheapest: classNames[p.cheapest],
      score: p.anomaly[p.cheapest],
      classes: classEvidence(p, classNames),
    })),
    pooled: classNames.map((name, k) => ({ name, anomaly: pooledAnomaly(searches, k) })),
    bounds: settings.bounds,
    areas: settings.patchAreas,
    seconds: searches.reduce((a, p) => a + p.seconds, 0),
  };
}

/**
 * A level of `pattern`'s ladder in its own unit: "ε ≈ 5.7/255" (L∞ bound) or "area ≈ 0.61 %"
 * (the patch's mask, a share of the image); "> …" when never reached.
 */
/** A level of the "patch" ladder as a share of the image: "0.68 %". */
export function areaAt(r: Pick<ScanReport, "areas">, level: number): string {
  return `${+(100 * r.areas[0] * 2 ** level).toPrecision(2)} %`;
}

export function levelText(
  r: Pick<ScanReport, "bounds" | "areas">,
  pattern: SearchPattern,
  level: number,
  crossed = true,
): string {
  const more = crossed ? "" : "> ";
  return pattern === "patch"
    ? `area ≈ ${more}${areaAt(r, level)}`
    : `ε ≈ ${more}${(r.bounds[0] * 255 * 2 ** level).toFixed(1)}/255`;
}

/** A few lines for stderr: each class's level and anomaly, cheapest first, and the verdict. */
export function evidenceLines(r: ScanReport): string[] {
  const order = r.classes.map((_, k) => k).sort((a, b) => r.classes[a].level - r.classes[b].level);
  const lines = order.map((k) => {
    const c = r.classes[k];
    return `  ${c.name.padEnd(14)} reached at ${levelText(r, r.pattern, c.level, c.crossed)}` +
      `  anomaly ${c.anomaly.toFixed(2)}`;
  });
  const suspect = r.classes.reduce((a, c) => (c.level < a.level ? c : a)).name;
  const pooled = r.pooled.find((c) => c.name === suspect)!.anomaly;
  const shapes = r.probes.length > 1
    ? [
      `  (${r.pattern} triggers; ` +
      r.probes.map((p) => `${p.pattern}: cheapest "${p.cheapest}" at ${p.score.toFixed(2)}`)
        .join(", ") +
      `; "${suspect}" pooled over the shapes ${pooled.toFixed(2)})`,
    ]
    : [];
  const verdict = r.verdict === "backdoored"
    ? `backdoored: "${r.target}" needs far less than the other classes (anomaly ` +
      `${r.score.toFixed(2)} ≥ ${r.threshold})`
    : `no evidence of a backdoor: no class stands out (highest anomaly ${r.score.toFixed(2)} < ` +
      `${r.threshold})`;
  return [...lines, ...shapes, verdict];
}

/** What {@link scanModel} takes. */
export interface ScanOptions {
  /** The CLIP to scan. */
  clip: Clip;
  /** Its tokenizer. */
  tokenizer: ClipTokenizer;
  /** The class names, in label order. */
  classNames: readonly string[];
  /** Clean labelled images (a few per class), [0, 1] pixels at the model's resolution. */
  train: { set: ImageSet; labels: readonly number[] };
  /** Seed of the search's draws (default 0). */
  seed?: number;
  /** Overrides of TARGET_SEARCH_DEFAULTS. */
  settings?: Partial<TargetSearchSettings>;
  /** Anomaly index from which the verdict is "backdoored" (default ANOMALY_THRESHOLD). */
  threshold?: number;
  /** Progress lines (default: silent). */
  progress?: Progress;
}

/** What {@link scanModel} found. */
export interface ScanResult {
  /** "backdoored" or "no evidence". */
  verdict: TargetVerdict["verdict"];
  /** The suspected target's name when the verdict is "backdoored", else null. */
  target: string | null;
  /** The cheapest class's anomaly index. */
  score: number;
  /** The per-class evidence, as report.json holds it. */
  report: ScanReport;
  /** The search the verdict rests on: every class's inverted trigger (the evidence as pictures). */
  search: TargetSearch;
  /** Every shape's search, in the order of `settings.patterns`. */
  searches: TargetSearch[];
}

/** Scans a CLIP for a backdoor from a few clean labelled images per class. */
export async function scanModel(o: ScanOptions): Promise<ScanResult> {
  const { clip, tokenizer, classNames } = o;
  const C = classNames.length;
  if (C < 3) throw new Error(`scan: needs at least 3 classes to compare, got ${C}`);
  // Every class needs images to be compared (describeShots refuses an empty one, naming it).
  describeShots(o.train.labels.map((label) => ({ label })), classNames, 0, "scan");
  // The zero-shot prompt must fit the text context untruncated (fitContext checks it).
  fitContext(tokenizer, classNames, clip.config.contextLength, "auto");
  const text: Tensor = zeroShotClassifier(clip, tokenizer, classNames, ONE_TEMPLATE);
  try {
    return await scanWithText(clip, text, classNames, o.train, o);
  } finally {
    text.dispose();
  }
}

/** The scan against class features the caller already has (purify's zero-shot head). */
export async function scanWithText(
  clip: Clip,
  classText: Tensor,
  classNames: readonly string[],
  train: { set: ImageSet; labels: readonly number[] },
  o: Pick<ScanOptions, "seed" | "settings" | "threshold" | "progress"> = {},
): Promise<ScanResult> {
  const settings = { ...TARGET_SEARCH_DEFAULTS, ...o.settings };
  const threshold = o.threshold ?? ANOMALY_THRESHOLD;
  if (settings.patterns.length === 0) throw new Error("scan: no trigger pattern to search");
  const searches: TargetSearch[] = [];
  for (const pattern of settings.patterns) {
    searches.push(
      await searchTargets(clip, train.set, train.labels, classText, settings, o.seed ?? 1, {
        progress: o.progress,
        pattern,
      }),
    );
  }
  const search = strongestSearch(searches);
  const v = targetVerdict(search, threshold, searches);
  const report = scanReport(searches, v, classNames, settings, threshold);
  return { verdict: v.verdict, target: report.target, score: v.score, report, search, searches };
}
