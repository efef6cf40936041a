// The static import graph of the repo's own modules, for the tests that check its shape
// (floors_test: no arrow up; engine_contracts_test: no cycle in src/gpu and src/autograd).

import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Relative specifiers of every static and dynamic import or re-export in a source text. */
export function importSpecifiers(text: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\bfrom\s*["'](\.{1,2}\/[^"']+)["']/g, // import … from "./x" (multi-line too), export … from
    /\bimport\s*["'](\.{1,2}\/[^"']+)["']/g, // import "./x" (side effect)
    /\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']/g, // import("./x")
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]);
  return out;
}

/** Every .ts file below `dir` (repo-relative). */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(join(ROOT, dir))) {
    const rel = join(dir, e.name);
    if (e.isDirectory) out.push(...sourceFiles(rel));
    else if (e.name.endsWith(".ts")) out.push(rel);
  }
  return out;
}
