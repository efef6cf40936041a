// Loss curves as a small self-contained SVG (sharp renders it to PNG): stage 1 on the left,
// stage 2's per-epoch losses on the right.

import type { EpochLosses } from "./tune.ts";

/** About five round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart). */
export function niceTicks(lo: number, hi: number, want = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / want, p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

function panel(
  x0: number,
  title: string,
  series: { name: string; color: string; ys: number[] }[],
  xLabel: string,
): string {
  const W = 380, H = 260, left = 52, right = 14, top = 30, bottom = 40;
  const all = series.flatMap((s) => s.ys).filter(Number.isFinite);
  const lo = Math.min(0, ...all), hi = Math.max(1e-9, ...all);
  const n = Math.max(...series.map((s) => s.ys.length), 2);
  const px = (i: number) => x0 + left + (i / (n - 1)) * (W - left - right);
  const py = (v: number) => top + (H - top - bottom) * (1 - (v - lo) / (hi - lo));
  const lines = series.map((s) =>
    `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${
      s.ys.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`).join(" ")
    }"/>`
  );
  const legend = series.map((s, k) =>
    `<text x="${x0 + W - right - 70}" y="${
      top + 14 + 14 * k
    }" fill="${s.color}" font-size="11">${s.name}</text>`
  );
  // Labelled axes: y ticks with grid lines, x ticks at round steps or epochs.
  const yTicks = niceTicks(lo, hi).map((v) =>
    `<line x1="${x0 + left}" x2="${x0 + W - right}" y1="${py(v).toFixed(1)}" y2="${
      py(v).toFixed(1)
    }" stroke="#eee"/>` +
    `<text x="${x0 + left - 4}" y="${(py(v) + 3).toFixed(1)}" font-size="10" ` +
    `text-anchor="end">${v}</text>`
  );
  const xTicks = niceTicks(1, n, 4).filter((v) => Number.isInteger(v)).map((v) =>
    `<text x="${px(v - 1).toFixed(1)}" y="${H - bottom + 14}" font-size="10" ` +
    `text-anchor="middle">${v}</text>`
  );
  return [
    `<text x="${x0 + left}" y="18" font-size="13">${title}</text>`,
    ...yTicks,
    `<rect x="${x0 + left}" y="${top}" width="${W - left - right}" height="${
      H - top - bottom
    }" fill="none" stroke="#999"/>`,
    ...xTicks,
    `<text x="${x0 + left + (W - left - right) / 2}" y="${H - 8}" font-size="11" ` +
    `text-anchor="middle">${xLabel}</text>`,
    `<text x="${x0 + 12}" y="${top + (H - top - bottom) / 2}" font-size="11" ` +
    `text-anchor="middle" transform="rotate(-90 ${x0 + 12} ${
      top + (H - top - bottom) / 2
    })">loss</text>`,
    ...lines,
    ...legend,
  ].join("\n");
}

export function lossPlotSvg(triggerLosses: number[], epochs: EpochLosses[]): string {
  const left = panel(0, "stage 1: trigger InfoNCE", [
    { name: "L_inv", color: "#c33", ys: triggerLosses },
  ], "step");
  const right = panel(380, "stage 2: prompt losses (epoch means)", [
    { name: "total", color: "#000", ys: epochs.map((e) => e.total) },
    { name: "L_clean", color: "#36c", ys: epochs.map((e) => e.clean) },
    { name: "L_bd", color: "#c33", ys: epochs.map((e) => e.bd) },
    { name: "L_3", color: "#393", ys: epochs.map((e) => e.third) },
  ], "epoch");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="760" height="260" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${left}
${right}
</svg>
`;
}
