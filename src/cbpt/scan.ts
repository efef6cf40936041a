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
  searchTargets,
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
  /** The cheapest class's anomaly index. */
  score: number;
  /** The anomaly index the verdict was judged against. */
  threshold: number;
  /** Each class's evidence: level, whether it crossed, anomaly index, share at each bound. */
  classes: {
    name: string;
    /** Rungs of the bound ladder (log2 of ε / first bound) at which the class is reached. */
    level: number;
    crossed: boolean;
    anomaly: number;
    shares: number[];
  }[];
  /** The L∞ bounds of the ladder, in [0, 1] pixel units. */
  bounds: number[];
  /** Wall-clock time of the search. */
  seconds: number;
}

export function scanReport(
  s: TargetSearch,
  v: TargetVerdict,
  classNames: readonly string[],
  settings: TargetSearchSettings,
  threshold: number,
): ScanReport {
  return {
    verdict: v.verdict,
    target: v.target === null ? null : classNames[v.target],
    score: v.score,
    threshold,
    classes: s.costs.map((c, k) => ({
      name: classNames[k],
      level: c.level,
      crossed: c.crossed,
      anomaly: s.anomaly[k],
      shares: c.shares,
    })),
    bounds: settings.bounds,
    seconds: s.seconds,
  };
}

/** A few lines for stderr: each class's level and anomaly, cheapest first, and the verdict. */
export function evidenceLines(r: ScanReport): string[] {
  const order = r.classes.map((_, k) => k).sort((a, b) => r.classes[a].level - r.classes[b].level);
  const b0 = r.bounds[0] * 255;
  const lines = order.map((k) => {
    const c = r.classes[k];
    const eps = b0 * 2 ** c.level;
    return `  ${c.name.padEnd(14)} reached at ε ≈ ${c.crossed ? "" : "> "}${eps.toFixed(1)}/255` +
      `  anomaly ${c.anomaly.toFixed(2)}`;
  });
  const verdict = r.verdict === "backdoored"
    ? `backdoored: "${r.target}" needs far less than the other classes (anomaly ` +
      `${r.score.toFixed(2)} ≥ ${r.threshold})`
    : `no evidence of a backdoor: no class stands out (highest anomaly ${r.score.toFixed(2)} < ` +
      `${r.threshold})`;
  return [...lines, verdict];
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
  /** Every class's inverted trigger (the per-class evidence as pictures). */
  search: TargetSearch;
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
  const search = await searchTargets(
    clip,
    train.set,
    train.labels,
    classText,
    settings,
    o.seed ?? 1,
    { progress: o.progress },
  );
  const v = targetVerdict(search, threshold);
  const report = scanReport(search, v, classNames, settings, threshold);
  return { verdict: v.verdict, target: report.target, score: v.score, report, search };
}
