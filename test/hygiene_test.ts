// The tree stays as `deno fmt` and `deno lint` want it: CI fails on a style slip, not only a
// review (a lint error once reached main with every test green). `deno lint` also runs the JSR
// rules (no slow types) since deno.json names a package, and `deno doc --lint` keeps every
// symbol of the public API documented, with no private type in a public signature.

import assert from "node:assert/strict";

const deno = Deno.execPath();

for (const args of [["fmt", "--check"], ["lint"], ["doc", "--lint", "mod.ts"]]) {
  Deno.test(`deno ${args.join(" ")} is clean`, async () => {
    const r = await new Deno.Command(deno, { args, stdout: "piped", stderr: "piped" }).output();
    const out = (new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr))
      // deno doc's warnings about @types/node's own references (via sharp's types) are noise
      .replace(/^Warning Failed resolving types\..*\n\s+at .*\n/gm, "");
    assert.equal(r.code, 0, `deno ${args.join(" ")} failed:\n${out.slice(0, 4000)}`);
  });
}
