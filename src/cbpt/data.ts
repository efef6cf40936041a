// Labelled image sets for CBPT: a folder per class, or a CSV of `path,label`; few-shot sampling.

import { basename, dirname, join, resolve } from "node:path";
import { preprocessImages } from "../clip/preprocess.ts";
import type { ImageSet } from "../io/images.ts";
import { mulberry32, shuffleInPlace } from "../io/rng.ts";

export interface LabelledSet {
  set: ImageSet;
  labels: number[];
  paths: string[];
}

const IMAGE_EXT = /\.(png|jpe?g|webp|gif|bmp|tiff?)$/i;

/** Class names, one per line (blank lines and # comments ignored). */
export async function readClassNames(path: string): Promise<string[]> {
  const names = (await Deno.readTextFile(path)).split("\n").map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  if (names.length < 2) throw new Error(`${path}: needs at least two class names`);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`${path}: class "${dup}" is listed twice`);
  return names;
}

/** (path, class index) pairs from a folder per class (folder name = class) or a CSV. */
export async function listLabelled(
  source: string,
  classNames: readonly string[],
): Promise<{ path: string; label: number }[]> {
  const index = (name: string, where: string) => {
    const k = classNames.indexOf(name);
    if (k < 0) throw new Error(`${where}: class "${name}" is not in the class list`);
    return k;
  };
  const out: { path: string; label: number }[] = [];
  const info = await Deno.stat(source).catch(() => null);
  if (!info) throw new Error(`${source}: no such file or folder`);
  if (info.isDirectory) {
    for await (const d of Deno.readDir(source)) {
      if (!d.isDirectory) continue;
      const label = index(d.name.replaceAll("_", " "), join(source, d.name));
      for await (const f of Deno.readDir(join(source, d.name))) {
        if (f.isFile && IMAGE_EXT.test(f.name)) {
          out.push({ path: join(source, d.name, f.name), label });
        }
      }
    }
  } else {
    const lines = (await Deno.readTextFile(source)).split("\n");
    lines.forEach((line, i) => {
      const t = line.trim();
      if (!t || (i === 0 && /^path\s*,\s*label$/i.test(t))) return;
      const at = t.lastIndexOf(",");
      if (at <= 0) throw new Error(`${source}:${i + 1}: expected "path,label"`);
      const p = t.slice(0, at).trim(), lab = t.slice(at + 1).trim();
      const label = /^\d+$/.test(lab) ? Number(lab) : index(lab, `${source}:${i + 1}`);
      if (label >= classNames.length) {
        throw new Error(`${source}:${i + 1}: label ${lab} out of range`);
      }
      out.push({ path: resolve(dirname(source), p), label });
    });
  }
  out.sort((a, b) => a.label - b.label || a.path.localeCompare(b.path));
  if (out.length === 0) throw new Error(`${source}: no labelled images found`);
  return out;
}

/** At most `shots` images per class, chosen with a seeded shuffle (all when shots is 0). */
export function fewShot<T extends { label: number }>(
  items: readonly T[],
  shots: number,
  seed: number,
): T[] {
  if (!shots) return [...items];
  const rand = mulberry32(seed);
  const byClass = new Map<number, T[]>();
  for (const it of items) byClass.set(it.label, [...(byClass.get(it.label) ?? []), it]);
  const out: T[] = [];
  for (const [, list] of [...byClass].sort((a, b) => a[0] - b[0])) {
    out.push(...shuffleInPlace([...list], rand).slice(0, shots));
  }
  return out;
}

/**
 * Checks the few-shot draw before any work: every class needs images (a class with none cannot
 * be purified or compared), and at least 2 in all; fewer than `shots` in a class is said, with
 * the counts. Returns the line to print.
 */
export function describeShots(
  items: readonly { label: number }[],
  classNames: readonly string[],
  shots: number,
  source: string,
): string {
  const counts = classNames.map(() => 0);
  for (const it of items) counts[it.label]++;
  const empty = counts.map((n, c) => (n === 0 ? classNames[c] : "")).filter(Boolean);
  if (empty.length) {
    const list = empty.slice(0, 5).map((c) => `"${c}"`).join(", ");
    throw new Error(
      `${source}: no images for ${list}${empty.length > 5 ? ` and ${empty.length - 5} more` : ""}` +
        ` (every listed class needs some)`,
    );
  }
  const min = Math.min(...counts), max = Math.max(...counts);
  if (shots && min < shots) {
    const short = counts.map((n, c) => [n, c]).filter(([n]) => n < shots)
      .slice(0, 5).map(([n, c]) => `${classNames[c]} ${n}`).join(", ");
    return `warning: ${source} has fewer than ${shots} images in some classes (${short}); ` +
      `using ${items.length} images, ${min}–${max} per class`;
  }
  return `${items.length} training images (${min === max ? min : `${min}–${max}`} per class)`;
}

/**
 * Loads and preprocesses (CLIP's pipeline) a labelled list into [0, 1] pixels; an image that
 * cannot be read is skipped with a line to `warn`.
 */
export async function loadLabelled(
  items: readonly { path: string; label: number }[],
  size: number,
  warn: (line: string) => void = () => {},
): Promise<LabelledSet> {
  const batch = await preprocessImages(items.map((i) => i.path), size, {
    skipErrors: true,
    normalize: false,
  });
  for (const e of batch.errors) warn(`warning: skipped ${basename(e.path)}: ${e.message}`);
  const ok = new Set(batch.loaded);
  const kept = items.filter((i) => ok.has(i.path));
  if (kept.length === 0) throw new Error("no image could be loaded");
  return {
    set: { pixels: batch.pixels, n: kept.length, size },
    labels: kept.map((i) => i.label),
    paths: kept.map((i) => i.path),
  };
}
