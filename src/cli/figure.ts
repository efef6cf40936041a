// trigger.png as a figure a person can read: the inverted trigger, amplified to the full pixel
// range with its scale written under it, then a few of the shots, clean and with the trigger,
// each labelled with its class and where CLIP sends it before and after purification. The
// helpers (text escaping, an image inside an SVG, a trigger's scale in words, SVG to PNG) serve
// the scan's figure too (scan_figure.ts).

import type { TriggerExamples } from "../cbpt/run.ts";
import { formatEpsilon, type HostTrigger, triggerPicture } from "../cbpt/trigger.ts";
import { imageAt } from "../io/images.ts";
import { pngBytes } from "../io/png.ts";

const TILE = 112, GAP = 14, LABEL = 54, TOP = 46;

/** XML-safe text. */
export const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A CHW [0, 1] image of side `size` drawn at (x, y) as a `side` × `side` pixelated square. */
export async function imageTag(
  chw: Float32Array,
  size: number,
  x: number,
  y: number,
  side = TILE,
): Promise<string> {
  const b64 = btoa(String.fromCharCode(...await pngBytes(chw, size)));
  return `<image x="${x}" y="${y}" width="${side}" height="${side}" ` +
    `style="image-rendering:pixelated" href="data:image/png;base64,${b64}"/>`;
}

const tile = (chw: Float32Array, size: number, x: number, y: number) => imageTag(chw, size, x, y);

/** An SVG rendered to PNG bytes (sharp, librsvg). */
export async function svgToPng(svg: string): Promise<Uint8Array> {
  const { sharp } = await import("../io/sharp.ts");
  return new Uint8Array(await sharp(new TextEncoder().encode(svg)).png().toBuffer());
}

/** How the trigger picture is scaled, in words (two short lines). */
export function scaleNote(t: HostTrigger): string[] {
  return t.kind === "additive"
    ? [`trigger × ${(0.5 / t.epsilon).toFixed(1)} + ½`, `(ε ${formatEpsilon(t.epsilon)})`]
    : ["trigger: pattern", "× mask"];
}

/** The figure as an SVG (sharp renders it to PNG). */
export async function triggerFigureSvg(
  trigger: HostTrigger,
  ex: TriggerExamples,
  classNames: readonly string[],
  target: string,
): Promise<string> {
  const k = ex.labels.length, R = ex.clean.size;
  const cols = 1 + k, W = GAP + cols * (TILE + GAP), H = TOP + 2 * (TILE + LABEL) + GAP;
  const parts: string[] = [
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${GAP}" y="18" font-size="14">stage 1's inverted trigger, suspected target "${
      esc(target)
    }"</text>`,
    `<text x="${GAP}" y="36" font-size="11">a few shots, clean and with the trigger: where CLIP ` +
    `sends them before and after purification (green: their class)</text>`,
    await tile(triggerPicture(trigger), trigger.size, GAP, TOP),
    ...scaleNote(trigger).map((line, i) =>
      `<text x="${GAP}" y="${TOP + TILE + 14 + 14 * i}" font-size="11">${esc(line)}</text>`
    ),
  ];
  const name = (c: number) => esc(classNames[c] ?? String(c));
  for (let j = 0; j < k; j++) {
    const x = GAP + (j + 1) * (TILE + GAP);
    for (
      const [row, set, before, after] of [
        [0, ex.clean, ex.before.clean, ex.after.clean],
        [1, ex.triggered, ex.before.triggered, ex.after.triggered],
      ] as const
    ) {
      const y = TOP + row * (TILE + LABEL);
      parts.push(await tile(imageAt(set, j), R, x, y));
      const mark = (c: number) => (c === ex.labels[j] ? "#080" : "#c00");
      parts.push(
        `<text x="${x}" y="${y + TILE + 14}" font-size="11">${
          row === 0 ? `a ${name(ex.labels[j])}` : "with the trigger"
        }</text>`,
        `<text x="${x}" y="${y + TILE + 28}" font-size="11" fill="${mark(before[j])}">before: ${
          name(before[j])
        }</text>`,
        `<text x="${x}" y="${y + TILE + 42}" font-size="11" fill="${mark(after[j])}">after: ${
          name(after[j])
        }</text>`,
      );
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
    `font-family="sans-serif">\n${parts.join("\n")}\n</svg>\n`;
}
