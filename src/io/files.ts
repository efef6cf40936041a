// Atomic file writes: every output (checkpoints, prompts, reports, pictures) is written to a
// temp file in the same folder and renamed over its path, so a crash leaves the old file or the
// new one, never half of one.

import { basename, dirname, join } from "node:path";

/** Writes bytes or text to `path` atomically. */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  await writeAtomicWith(path, (file) => writeAll(file, bytes));
}

/**
 * Runs `fill` on a temp file beside `path`, then renames it to `path`; removes it on failure
 * (for writers that stream, like the safetensors writer).
 */
export async function writeAtomicWith<T>(
  path: string,
  fill: (file: Deno.FsFile) => Promise<T>,
): Promise<T> {
  const tmp = join(dirname(path), `.${basename(path)}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  let file: Deno.FsFile | null = null;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true });
    const result = await fill(file);
    file.close();
    file = null;
    await Deno.rename(tmp, path);
    return result;
  } catch (e) {
    file?.close();
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`${path}: write failed: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}

/** Writes all of `bytes` (Deno's write may take fewer). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
}

/** Whether `path` exists (a missing file is not an error here; others, like permissions, are). */
export async function fileExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** The byte arrays one after another in a new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
