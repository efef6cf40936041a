// scan.png from a synthetic report and trigger (no model run): it renders at its size, names the
// target and the verdict, and draws the threshold where the scan's own anomaly index puts it.

import assert from "node:assert/strict";
import { type ClassEvidence, evidenceLines, levelText, type ScanReport } from "../src/cbpt/scan.ts";
import type { HostTrigger } from "../src/cbpt/trigger.ts";
import { svgToPng } from "../src/cli/figure.ts";
import {
  anomalyLine,
  SCAN_FIGURE_SIZE,
  scanFigureSvg,
  scanVerdictLine,
} from "../src/cli/scan_figure.ts";
import { sharp } from "../src/io/sharp.ts";
import { FMNIST_CLASSES } from "../src/lab/fmnist.ts";

/** Classes with these levels and the scan's anomaly index over them (median, MAD floor 0.2). */
function evidence(names: string[], levels: number[], crossed = levels.map(() => true)) {
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b), h = s.length >> 1;
    return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
  };
  const m = med(levels), mad = Math.max(med(levels.map((x) => Math.abs(x - m))), 0.2);
  return {
    median: m,
    scale: 1.4826 * mad,
    classes: names.map((name, k): ClassEvidence => ({
      name,
      level: levels[k],
      crossed: crossed[k],
      anomaly: (m - levels[k]) / (1.4826 * mad),
      shares: [0.1, 0.6],
    })),
  };
}

function report(classes: ClassEvidence[], threshold = 2): ScanReport {
  const k = classes.reduce((m, c, j) => (c.level < classes[m].level ? j : m), 0);
  const score = classes[k].anomaly, backdoored = score >= threshold;
  return {
    verdict: backdoored ? "backdoored" : "no evidence",
    target: backdoored ? classes[k].name : null,
    score,
    threshold,
    pattern: "full",
    classes,
    probes: [
      { pattern: "full", cheapest: classes[k].name, score, classes },
      { pattern: "columns", cheapest: classes[0].name, score: 0.7, classes },
    ],
    pooled: classes.map((c) => ({ name: c.name, anomaly: c.anomaly })),
    bounds: [2, 4, 8, 16, 32, 64, 128].map((b) => b / 255),
    areas: [8, 7, 6, 5, 4, 3].map((k) => 2 ** -k),
    seconds: 60,
  };
}

const R = 32;
const trigger: HostTrigger = {
  kind: "additive",
  size: R,
  epsilon: 8 / 255,
  delta: Float32Array.from({ length: 3 * R * R }, (_, i) => ((i * 7919) % 17 - 8) / 255),
};

const FMNIST = [...FMNIST_CLASSES];

Deno.test("scan figure: a backdoored report names its target and verdict; the PNG has its size", async () => {
  const ev = evidence(FMNIST, [3.1, 2.2, 3.3, 3.0, 3.4, 2.9, 3.2, 0.8, 3.0, 7], [
    ...Array(9).fill(true),
    false,
  ]);
  const r = report(ev.classes);
  assert.equal(r.target, "sneaker");
  const svg = await scanFigureSvg(r, trigger);
  const plain = svg.replaceAll("&quot;", '"'); // the text as drawn
  assert.ok(plain.includes(scanVerdictLine(r)), "the verdict line is on the figure");
  assert.match(plain, /backdoored: target "sneaker" \(anomaly \d+\.\d\d ≥ 2\)/);
  assert.match(plain, />"sneaker" \(full\)</, "the trigger picture is the target's");
  assert.match(svg, /trigger × 15\.9 \+ ½.*\n.*\(ε 8\/255\)/, "the picture's scale is written");
  assert.match(plain, /columns: cheapest "t-shirt" at 0\.70/, "the other shape's outcome");
  assert.match(svg, /not reached at the last bound/, "an unreached class is marked");
  assert.match(svg, />threshold 2</);
  const png = await svgToPng(svg);
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, "png");
  assert.deepEqual([meta.width, meta.height], [SCAN_FIGURE_SIZE.width, SCAN_FIGURE_SIZE.height]);
  // The threshold line in levels is the scan's: median − threshold · 1.4826 · MAD.
  const line = anomalyLine(r.classes)!;
  assert.ok(Math.abs(line.median - ev.median) < 1e-9, `median ${line.median} vs ${ev.median}`);
  assert.ok(Math.abs(line.scale - ev.scale) < 1e-9, `scale ${line.scale} vs ${ev.scale}`);
});

Deno.test("scan figure: a patch-shape report is drawn in mask areas, its trigger as a mask", async () => {
  const ev = evidence(FMNIST, [3.1, 2.2, 3.3, 3.0, 3.4, 2.9, 3.2, 0.8, 3.0, 3.1]);
  const r = { ...report(ev.classes), pattern: "patch" as const };
  const mask: HostTrigger = {
    kind: "mask",
    size: R,
    mask: Float32Array.from({ length: R * R }, (_, i) => (i % R < 4 && i < 4 * R ? 1 : 0)),
    pattern: new Float32Array(3 * R * R).fill(0.9),
  };
  const svg = await scanFigureSvg(r, mask);
  const plain = svg.replaceAll("&quot;", '"');
  assert.match(plain, /the mask area at which each class's trigger sends/);
  assert.match(plain, /mask area \(share of the image\) each class's trigger needed/);
  // sneaker's level 0.8 on a ladder from 2⁻⁸ of the image: 0.68 %.
  assert.match(plain, /sneaker: 0\.68 %/);
  assert.match(plain, />"sneaker" \(patch\)</);
  assert.match(plain, /trigger: pattern/);
  assert.doesNotMatch(plain, /\/255/, "no L∞ bound on a patch report");
  // The stderr lines say the same in the same unit.
  assert.equal(levelText(r, "patch", 0.8), "area ≈ 0.68 %");
  assert.equal(levelText(r, "full", 2), "ε ≈ 8.0/255");
  assert.equal(levelText(r, "patch", 6, false), "area ≈ > 25 %");
  assert.match(evidenceLines(r)[0], /^ {2}sneaker +reached at area ≈ 0\.68 % {2}anomaly/);
});

Deno.test("scan figure: no evidence, a hundred classes, all levels equal", async () => {
  const names = Array.from({ length: 100 }, (_, k) => `class ${k} <&>`);
  const levels = names.map((_, k) => 3 + 0.01 * ((k * 37) % 11));
  const r = report(evidence(names, levels).classes);
  assert.equal(r.verdict, "no evidence");
  const svg = await scanFigureSvg(r, trigger);
  assert.ok(svg.includes("no evidence of a backdoor (highest anomaly"), "the verdict");
  assert.ok(svg.includes("class 0 &lt;&amp;&gt;"), "names are escaped");
  assert.match(svg, /100 classes in label order/);
  const flat = report(evidence(FMNIST, FMNIST.map(() => 3)).classes);
  assert.equal(anomalyLine(flat.classes), null);
  const meta = await sharp(await svgToPng(await scanFigureSvg(flat, trigger))).metadata();
  assert.deepEqual([meta.width, meta.height], [SCAN_FIGURE_SIZE.width, SCAN_FIGURE_SIZE.height]);
});
