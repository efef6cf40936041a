// Loss curves as a small self-contained SVG (sharp renders it to PNG): stage 1 on the left,
// stage 2's per-epoch losses on the right.

import type { EpochLosses } from "./tune.ts";

function panel(
  x0: number,
  title: string,
  series: { name: string; color: string; ys: number[] }[],
  xLabel: string,
): string {
  const W = 380, H = 260, pad = 40;
  const all = series.flatMap((s) => s.ys).filter(Number.isFinite);
  const lo = Math.min(0, ...all), hi = Math.max(1e-9, ...all);
  const n = Math.max(...series.map((s) => s.ys.length), 2);
  const px = (i: number) => x0 + pad + (i / (n - 1)) * (W - 2 * pad);
  const py = (v: number) => 30 + (H - 30 - pad) * (1 - (v - lo) / (hi - lo));
  const lines = series.map((s) =>
    `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${
      s.ys.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`).join(" ")
    }"/>`
  );
  const legend = series.map((s, k) =>
    `<text x="${x0 + W - pad - 90}" y="${
      44 + 14 * k
    }" fill="${s.color}" font-size="11">${s.name}</text>`
  );
  return [
    `<text x="${x0 + pad}" y="18" font-size="13">${title}</text>`,
    `<rect x="${x0 + pad}" y="30" width="${W - 2 * pad}" height="${
      H - 30 - pad
    }" fill="none" stroke="#999"/>`,
    `<text x="${x0 + pad}" y="${H - 12}" font-size="11">${xLabel} (1..${n})</text>`,
    `<text x="${x0 + 2}" y="36" font-size="10">${hi.toPrecision(3)}</text>`,
    `<text x="${x0 + 2}" y="${H - pad}" font-size="10">${lo.toPrecision(3)}</text>`,
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
