// scan.png: the scan's evidence as one figure. Top left, the L∞ bound ε each class's targeted
// trigger needed (log scale: the ladder's rungs), with the classes' median and the level under
// which a class counts as the target (anomaly index = threshold); below it, each class's anomaly
// index with the threshold; on the right, the cheapest class's trigger, amplified, with its scale.
// The verdict is written across the top.

import { areaAt, type ClassEvidence, type ScanReport } from "../cbpt/scan.ts";
import { niceTicks } from "../cbpt/plot.ts";
import { type HostTrigger, triggerPicture } from "../cbpt/trigger.ts";
import { esc, imageTag, scaleNote } from "./figure.ts";

/** The figure's size in pixels, whatever the number of classes. */
export const SCAN_FIGURE_SIZE = { width: 960, height: 570 } as const;

const TARGET = "#c33", CHEAPEST = "#e59a3a", OTHER = "#7f9cc4";
/** The plots' area: left edge, width; the ε panel's and the anomaly panel's top and height. */
const PX = 62, PW = 580, EPS_Y = 96, EPS_H = 210, AN_Y = 350, AN_H = 140;
/** The trigger picture's place and side. */
const PIC_X = 730, PIC_Y = 110, PIC = 200;

/**
 * The anomaly index as a line in levels: anomaly = (median − level) / scale, so level =
 * median − scale · anomaly. Read back from the report itself (two classes of different anomaly),
 * so it is the scan's own median and MAD (with its floor), whatever the shape; null when every
 * class has the same anomaly (no spread to measure).
 */
export function anomalyLine(classes: readonly ClassEvidence[]): {
  median: number;
  scale: number;
} | null {
  let lo = 0, hi = 0;
  classes.forEach((c, k) => {
    if (c.anomaly < classes[lo].anomaly) lo = k;
    if (c.anomaly > classes[hi].anomaly) hi = k;
  });
  const a = classes[lo], b = classes[hi];
  if (!(b.anomaly - a.anomaly > 1e-9)) return null;
  const scale = (a.level - b.level) / (b.anomaly - a.anomaly);
  return { median: b.level + scale * b.anomaly, scale };
}

/** "8/255" or "5.7/255" for a level of the ladder that starts at `b0` (in [0, 1] units). */
function epsAt(b0: number, level: number): string {
  const e = b0 * 255 * 2 ** level;
  return `${Math.abs(e - Math.round(e)) < 0.05 ? Math.round(e) : e.toFixed(1)}/255`;
}

/** A level in the report's shape's unit: its L∞ bound, or its mask area for "patch". */
function costAt(r: ScanReport, level: number): string {
  return r.pattern === "patch" ? areaAt(r, level) : epsAt(r.bounds[0] ?? 2 / 255, level);
}

/** The verdict in one line, as the scan's last stderr line says it. */
export function scanVerdictLine(r: ScanReport): string {
  return r.verdict === "backdoored"
    ? `backdoored: target "${r.target}" (anomaly ${r.score.toFixed(2)} ≥ ${r.threshold})`
    : `no evidence of a backdoor (highest anomaly ${r.score.toFixed(2)} < ${r.threshold})`;
}

/**
 * The figure as an SVG (sharp renders it to PNG). `trigger` is the cheapest class's trigger under
 * the report's shape (ScanResult.search.trigger).
 */
export async function scanFigureSvg(r: ScanReport, trigger: HostTrigger): Promise<string> {
  const { width: W, height: H } = SCAN_FIGURE_SIZE;
  const cls = r.classes, C = cls.length;
  if (C === 0) throw new Error("scan figure: the report has no classes");
  const cheapest = cls.reduce((m, c, k) => (c.level < cls[m].level ? k : m), 0);
  const named = r.target === null ? -1 : cls.findIndex((c) => c.name === r.target);
  const marked = named >= 0 ? named : cheapest;
  const colour = (k: number) =>
    k === marked ? (r.verdict === "backdoored" ? TARGET : CHEAPEST) : OTHER;
  const patch = r.pattern === "patch";
  const line = anomalyLine(cls);
  const cut = line ? line.median - line.scale * r.threshold : null;

  const slot = PW / C, barW = Math.max(1, Math.min(40, slot * 0.7));
  const bx = (k: number) => PX + slot * k + (slot - barW) / 2;
  const parts: string[] = [`<rect width="100%" height="100%" fill="white"/>`];
  // 11 px unless `attrs` sets a font-size of its own.
  const text = (x: number, y: number, s: string, attrs = "") =>
    `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}"${
      attrs.includes("font-size=") ? "" : ` font-size="11"`
    }${attrs}>${esc(s)}</text>`;
  const hline = (y: number, stroke: string, dash = "") =>
    `<line x1="${PX}" x2="${PX + PW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" ` +
    `stroke="${stroke}"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`;

  // The verdict, the question each panel answers, and the other shapes' outcome.
  parts.push(
    `<text x="14" y="24" font-size="16" font-weight="bold" fill="${
      r.verdict === "backdoored" ? TARGET : "#000"
    }">${esc(scanVerdictLine(r))}</text>`,
    text(
      14,
      44,
      `per-class targeted triggers (${r.pattern} shape): the ${
        patch ? "mask area" : "L∞ bound ε"
      } at which each class's trigger sends the other classes' images to it; a backdoor's target needs far less`,
    ),
  );
  if (r.probes.length > 1) {
    parts.push(text(
      14,
      60,
      "shapes searched: " + r.probes.map((p) =>
        `${p.pattern}: cheapest "${p.cheapest}" at ${p.score.toFixed(2)}`
      ).join("; ") + ` (the verdict rests on ${r.pattern})`,
      ` fill="#555"`,
    ));
  }

  // Panel 1: the ε each class needed, on the ladder's log scale (one rung = ×2).
  const levels = cls.map((c) => c.level);
  let lo = Math.min(0, Math.floor(Math.min(...levels))) - 0.5;
  if (cut !== null && cut - 0.25 < lo) lo = cut - 0.25;
  const hi = Math.max((patch ? r.areas : r.bounds).length, Math.ceil(Math.max(...levels))) + 0.25;
  const py = (l: number) => EPS_Y + EPS_H * (1 - (l - lo) / (hi - lo));
  parts.push(text(
    PX,
    EPS_Y - 10,
    `${patch ? "mask area (share of the image)" : "ε"} each class's trigger needed (log scale)`,
    ` font-size="13"`,
  ));
  for (let l = Math.ceil(lo); l <= Math.floor(hi); l++) {
    parts.push(
      hline(py(l), "#eee"),
      text(PX - 4, py(l) + 3, costAt(r, l), ` font-size="10" text-anchor="end"`),
    );
  }
  cls.forEach((c, k) => {
    const y = py(c.level), h = py(lo) - y;
    parts.push(
      `<rect x="${bx(k).toFixed(1)}" y="${y.toFixed(1)}" width="${barW.toFixed(1)}" ` +
        `height="${Math.max(0, h).toFixed(1)}" fill="${colour(k)}"` +
        (c.crossed ? "" : ` fill-opacity="0.35" stroke="${colour(k)}" stroke-dasharray="3 2"`) +
        `/>`,
    );
  });
  // The marked class's values over its bar, kept inside the panel, haloed over its neighbours.
  const m = cls[marked];
  const halo = ` stroke="white" stroke-width="3" paint-order="stroke"`;
  const labelX = Math.min(Math.max(bx(marked) + barW / 2, PX + 60), PX + PW - 60);
  parts.push(text(
    labelX,
    py(m.level) - 5,
    `${m.name}: ${m.crossed ? "" : "> "}${costAt(r, m.level)}`,
    ` text-anchor="middle" fill="${colour(marked)}"${halo}`,
  ));
  if (line) {
    parts.push(
      hline(py(line.median), "#555", "5 3"),
      text(PX + PW + 4, py(line.median) + 3, "median", ` font-size="10" fill="#555"`),
    );
    if (cut !== null) {
      parts.push(
        hline(py(cut), TARGET, "2 2"),
        text(
          PX + PW + 4,
          py(cut) + 3,
          `anomaly = ${r.threshold}`,
          ` font-size="10" fill="${TARGET}"`,
        ),
      );
    }
  }
  parts.push(
    `<rect x="${PX}" y="${EPS_Y}" width="${PW}" height="${EPS_H}" fill="none" stroke="#999"/>`,
  );
  if (cls.some((c) => !c.crossed)) {
    parts.push(text(
      PX + PW,
      EPS_Y - 10,
      "dashed: not reached at the last bound (a lower bound)",
      ` font-size="10" text-anchor="end" fill="#555"`,
    ));
  }

  // Panel 2: the anomaly index (median − level) / (1.4826 · MAD), with the threshold.
  // Classes far dearer than the median (large negative indices) are cut at −aHi, value written.
  const an = cls.map((c) => c.anomaly);
  const aHi = Math.max(r.threshold, ...an) * 1.12, aLo = Math.max(Math.min(0, ...an), -aHi);
  const ay = (v: number) => AN_Y + AN_H * (1 - (Math.max(v, aLo) - aLo) / (aHi - aLo));
  parts.push(text(
    PX,
    AN_Y - 10,
    "anomaly index: (median − level) / (1.4826 · MAD)",
    ` font-size="13"`,
  ));
  for (const v of niceTicks(aLo, aHi, 4)) {
    parts.push(
      hline(ay(v), "#eee"),
      text(PX - 4, ay(v) + 3, String(v), ` font-size="10" text-anchor="end"`),
    );
  }
  cls.forEach((c, k) => {
    const y0 = ay(Math.max(0, c.anomaly)), y1 = ay(Math.min(0, c.anomaly));
    parts.push(
      `<rect x="${bx(k).toFixed(1)}" y="${y0.toFixed(1)}" width="${barW.toFixed(1)}" ` +
        `height="${(y1 - y0).toFixed(1)}" fill="${colour(k)}"/>`,
    );
    if (c.anomaly < aLo && slot >= 24) {
      parts.push(
        text(
          bx(k) + barW / 2,
          y1 - 4,
          c.anomaly.toFixed(1),
          ` font-size="9" text-anchor="middle" fill="white"`,
        ),
      );
    }
  });
  parts.push(
    hline(ay(0), "#999"),
    hline(ay(r.threshold), TARGET, "2 2"),
    text(
      PX + PW + 4,
      ay(r.threshold) + 3,
      `threshold ${r.threshold}`,
      ` font-size="10" fill="${TARGET}"`,
    ),
    text(
      Math.min(Math.max(bx(marked) + barW / 2, PX + 16), PX + PW - 16),
      ay(Math.max(0, m.anomaly)) - 5,
      m.anomaly.toFixed(2),
      ` text-anchor="middle" fill="${colour(marked)}"${halo}`,
    ),
    `<rect x="${PX}" y="${AN_Y}" width="${PW}" height="${AN_H}" fill="none" stroke="#999"/>`,
  );
  // Class names under the bars while they fit; with many classes only the marked one's (above).
  if (slot >= 11) {
    const y = AN_Y + AN_H + 12;
    cls.forEach((c, k) => {
      const x = bx(k) + barW / 2;
      parts.push(
        `<text x="${x.toFixed(1)}" y="${y}" font-size="10" text-anchor="end" ` +
          `transform="rotate(-40 ${x.toFixed(1)} ${y})"${
            k === marked ? ` fill="${colour(k)}" font-weight="bold"` : ""
          }>${esc(c.name)}</text>`,
      );
    });
  } else {
    parts.push(text(PX, AN_Y + AN_H + 16, `${C} classes in label order`, ` fill="#555"`));
  }

  // The cheapest class's trigger, amplified, with its scale.
  const who = cls[cheapest].name;
  parts.push(
    text(PIC_X, PIC_Y - 24, `the cheapest class's trigger:`, ` font-size="13"`),
    text(PIC_X, PIC_Y - 8, `"${who}" (${r.pattern})`, ` font-size="13" fill="${colour(cheapest)}"`),
    await imageTag(triggerPicture(trigger), trigger.size, PIC_X, PIC_Y, PIC),
    `<rect x="${PIC_X}" y="${PIC_Y}" width="${PIC}" height="${PIC}" fill="none" stroke="#999"/>`,
    ...scaleNote(trigger).map((s, i) => text(PIC_X, PIC_Y + PIC + 16 + 14 * i, s)),
  );
  const legend: [string, string][] = [
    [
      r.verdict === "backdoored" ? TARGET : CHEAPEST,
      r.verdict === "backdoored" ? "the suspected target" : "cheapest, under the threshold",
    ],
    [OTHER, "the other classes"],
  ];
  legend.forEach(([c, s], i) => {
    const y = PIC_Y + PIC + 60 + 18 * i;
    parts.push(
      `<rect x="${PIC_X}" y="${y - 9}" width="10" height="10" fill="${c}"/>`,
      text(PIC_X + 16, y, s),
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `font-family="sans-serif">\n${parts.join("\n")}\n</svg>\n`;
}
