// The floors: gpu → autograd → io → clip → cbpt → attacks → lab → cli → mod.ts → scripts/bench →
// test. A file imports only from its own floor or below, never from scripts/ or test/ (a test walks
// the static import graph, so an arrow up fails CI instead of waiting for a review).

import { importSpecifiers, ROOT, sourceFiles } from "./imports.ts";
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";

/** Floor of a repo-relative path; higher floors may import lower ones. */
const FLOORS: [RegExp, number, string][] = [
  [/^src\/gpu\//, 0, "gpu"],
  [/^src\/autograd\//, 1, "autograd"],
  [/^src\/io\//, 2, "io"],
  [/^src\/clip\//, 3, "clip"],
  [/^src\/cbpt\//, 4, "cbpt"],
  [/^src\/attacks\//, 5, "attacks"],
  [/^src\/lab\//, 6, "lab"],
  [/^src\/cli\//, 7, "cli"],
  [/^mod\.ts$/, 8, "mod.ts"],
  [/^(scripts|bench)\//, 9, "scripts"],
  [/^test\//, 10, "test"],
];

function floorOf(path: string): [number, string] | null {
  for (const [re, n, name] of FLOORS) if (re.test(path)) return [n, name];
  return null;
}

/** Every arrow that runs up a floor, or into scripts/ or test/, as "from → to" lines. */
function arrowsUp(): string[] {
  const files = ["mod.ts", ...["src", "scripts", "bench", "test"].flatMap(sourceFiles)];
  const bad: string[] = [];
  for (const file of files) {
    const from = floorOf(file);
    if (!from) continue;
    for (const spec of importSpecifiers(Deno.readTextFileSync(join(ROOT, file)))) {
      const target = relative(ROOT, resolve(dirname(join(ROOT, file)), spec));
      const to = floorOf(target);
      if (!to) continue;
      const intoTop = /^(scripts|test)\//.test(target) && !file.startsWith(target.split("/")[0]);
      if (to[0] > from[0] || intoTop) bad.push(`${file} (${from[1]}) → ${target} (${to[1]})`);
    }
  }
  return bad;
}

Deno.test("importSpecifiers finds multi-line, re-export, side-effect and dynamic imports", () => {
  const text = `import { \n  a, \n  b, \n } from "../x.ts";\nexport * from './y.ts';\n` +
    `import "./z.ts";\nconst m = await import( "../w.ts");\nimport { q } from "npm:sharp";`;
  assert.deepEqual(importSpecifiers(text).sort(), ["../w.ts", "../x.ts", "./y.ts", "./z.ts"]);
});

Deno.test("no import runs up a floor, or into scripts/ or test/", () => {
  const bad = arrowsUp();
  assert.deepEqual(bad, [], `${bad.length} arrows up:\n${bad.join("\n")}`);
});
