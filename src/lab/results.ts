// The lab's results: one row per attack and defence, as a Markdown table and as a bar chart
// (SVG, which sharp renders to PNG): ASR on top, CA below, a group of bars per attack.

export interface ResultRow {
  attack: string;
  defence: string;
  target: string;
  seeds: number;
  ca_mean: number;
  ca_std: number;
  asr_mean: number;
  asr_std: number;
  /** Per seed. */
  ca: number[];
  asr: number[];
  /** All seeds together. */
  seconds: number;
  /** CBPT: the Adam steps stage 1's inversion ran per seed (all bounds; it may stop early). */
  stage1_steps?: number[];
  settings: Record<string, number | string>;
}

const pct = (x: number) => (100 * x).toFixed(1);

/** A paragraph wrapped greedily at `width` columns, as `deno fmt` wraps prose (lineWidth 100). */
export function wrapProse(text: string, width = 100): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && [...line].length + 1 + [...word].length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join("\n");
}

/**
 * A Markdown table with its columns padded as `deno fmt` pads them, so that generated pages pass
 * `deno fmt --check` as written.
 */
export function markdownTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const len = (s: string) => [...s].length;
  const widths = head.map((h, c) => Math.max(3, len(h), ...rows.map((r) => len(r[c] ?? ""))));
  const line = (cells: readonly string[]) =>
    `| ${
      widths.map((w, c) => (cells[c] ?? "") + " ".repeat(w - len(cells[c] ?? ""))).join(" | ")
    } |`;
  return [line(head), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)]
    .join("\n");
}

/** CA and ASR as "mean ± std" percentages, a row per attack, a column pair per defence. */
export function resultsMarkdown(rows: readonly ResultRow[]): string {
  const attacks = [...new Set(rows.map((r) => r.attack))];
  const defences = [...new Set(rows.map((r) => r.defence))];
  const cell = (a: string, d: string) => rows.find((r) => r.attack === a && r.defence === d);
  const head = ["attack", ...defences.flatMap((d) => [`${d} CA %`, `${d} ASR %`])];
  const table = markdownTable(
    head,
    attacks.map((a) => {
      const cols = defences.flatMap((d) => {
        const r = cell(a, d);
        if (!r) return ["–", "–"];
        // One run has no spread: shown as such (zero-shot is deterministic; the rest say so).
        if (r.seeds < 2) {
          const note = r.defence === "none" ? "" : " (1 seed)";
          return [`${pct(r.ca_mean)}${note}`, `${pct(r.asr_mean)}${note}`];
        }
        return [`${pct(r.ca_mean)} ± ${pct(r.ca_std)}`, `${pct(r.asr_mean)} ± ${pct(r.asr_std)}`];
      });
      return [a, ...cols];
    }),
  );
  const seeds = [...new Set(rows.map((r) => r.seeds))].join(", ");
  const time = defences.map((d) => {
    const rs = rows.filter((r) => r.defence === d);
    const s = rs.reduce((t, r) => t + r.seconds / r.seeds, 0) / Math.max(1, rs.length);
    return `${d} ${s.toFixed(1)} s`;
  });
  return [
    "# Backdoor lab: CA and ASR by attack and defence",
    "",
    wrapProse(
      "Made by `scripts/evaluate.ts` (the numbers are in results.json). CA: clean accuracy on " +
        "the fixture test set (1000 Fashion-MNIST images); ASR: share of its triggered " +
        "non-target images classified as the attacker's target. Mean ± sample std over seeds " +
        `(${seeds} per cell, as marked); zero-shot (none) is deterministic and runs once.`,
    ),
    "",
    table,
    "",
    wrapProse(
      "Targets: " +
        attacks.map((a) => `${a} → ${rows.find((r) => r.attack === a)?.target ?? "?"}`).join(", ") +
        ".",
    ),
    "",
    `Mean time per run: ${time.join(", ")}.`,
    "",
    ...stage1StepsNote(rows),
  ].join("\n");
}

/**
 * CBPT's stage 1 steps per seed (summed over the ε bounds tried), and which rows ran before the
 * inversion could stop early (their settings have no trigger_flat: every step ran).
 */
function stage1StepsNote(rows: readonly ResultRow[]): string[] {
  const cbpt = rows.filter((r) => r.defence === "cbpt");
  const counted = cbpt.filter((r) => r.stage1_steps?.length);
  const before = cbpt.filter((r) => r.settings.trigger_flat === undefined);
  if (!counted.length && !before.length) return [];
  const text = [
    counted.length
      ? "CBPT's stage 1 inversion steps per seed, over every ε bound tried (a bound stops early " +
        "once one class holds the share and the loss is flat; docs/method.md): " +
        counted.map((r) => `${r.attack} ${r.stage1_steps!.join(", ")}`).join("; ") + "."
      : "",
    before.length
      ? `Measured before stage 1 could stop early (every step ran): ` +
        `${before.map((r) => r.attack).join(", ")}.`
      : "",
  ].filter(Boolean).join(" ");
  return [wrapProse(text), ""];
}

const COLORS: Record<string, string> = {
  none: "#888888",
  cbpt: "#1b7837",
  coop: "#2166ac",
  finetune: "#b2182b",
};

/** Two panels of grouped bars (ASR, CA) with ±std whiskers. */
export function resultsChartSvg(rows: readonly ResultRow[]): string {
  const attacks = [...new Set(rows.map((r) => r.attack))];
  const defences = [...new Set(rows.map((r) => r.defence))];
  // The legend has its own column right of the plots, so it never covers a bar.
  const LEGEND = 110;
  const plotW = Math.max(480, 90 + attacks.length * (defences.length * 14 + 24));
  const W = plotW + LEGEND, H = 220, pad = 50;
  const group = (plotW - pad - 20) / Math.max(1, attacks.length);
  const bar = Math.min(14, (group - 16) / Math.max(1, defences.length));
  const panel = (y0: number, title: string, key: "asr" | "ca") => {
    const py = (v: number) => y0 + 30 + (H - 60) * (1 - v);
    const parts = [
      `<text x="${pad}" y="${y0 + 18}" font-size="13">${title}</text>`,
      `<line x1="${pad}" y1="${py(0)}" x2="${plotW - 20}" y2="${py(0)}" stroke="#000"/>`,
      ...[0, 0.5, 1].map((v) =>
        `<text x="${pad - 6}" y="${py(v) + 4}" font-size="10" text-anchor="end">${100 * v}</text>`
      ),
    ];
    attacks.forEach((a, i) => {
      const gx = pad + i * group + 8;
      // A family's name goes on a line of its own, so long names do not run into each other.
      const cx = gx + (defences.length * bar) / 2;
      const lines = a.includes("/")
        ? [a.slice(0, a.indexOf("/") + 1), a.slice(a.indexOf("/") + 1)]
        : [a];
      lines.forEach((line, k) =>
        parts.push(
          `<text x="${cx}" y="${
            py(0) + 14 + 11 * k
          }" font-size="10" text-anchor="middle">${line}</text>`,
        )
      );
      defences.forEach((d, k) => {
        const r = rows.find((x) => x.attack === a && x.defence === d);
        if (!r) return;
        const m = key === "asr" ? r.asr_mean : r.ca_mean;
        const s = key === "asr" ? r.asr_std : r.ca_std;
        const x = gx + k * bar;
        parts.push(
          `<rect x="${x.toFixed(1)}" y="${py(m).toFixed(1)}" width="${(bar - 1).toFixed(1)}" ` +
            `height="${(py(0) - py(m)).toFixed(1)}" fill="${COLORS[d] ?? "#555"}"/>`,
          `<line x1="${(x + bar / 2).toFixed(1)}" x2="${(x + bar / 2).toFixed(1)}" y1="${
            py(Math.min(1, m + s)).toFixed(1)
          }" y2="${py(Math.max(0, m - s)).toFixed(1)}" stroke="#000"/>`,
        );
      });
    });
    return parts.join("\n");
  };
  const legend = defences.map((d, k) =>
    `<rect x="${plotW}" y="${38 + 14 * k}" width="10" height="10" fill="${COLORS[d] ?? "#555"}"/>` +
    `<text x="${plotW + 14}" y="${47 + 14 * k}" font-size="11">${d}</text>`
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${2 * H}" ` +
    `font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    panel(0, "ASR % (lower is better)", "asr"),
    panel(H, "CA % (higher is better)", "ca"),
    ...legend,
    `</svg>`,
  ].join("\n");
}
