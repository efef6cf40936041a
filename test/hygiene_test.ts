// The tree stays as `deno fmt` and `deno lint` want it: CI fails on a style slip, not only a
// review (a lint error once reached main with every test green).

import assert from "node:assert/strict";

const deno = Deno.execPath();

for (const args of [["fmt", "--check"], ["lint"]]) {
  Deno.test(`deno ${args.join(" ")} is clean`, async () => {
    const r = await new Deno.Command(deno, { args, stdout: "piped", stderr: "piped" }).output();
    const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, `deno ${args.join(" ")} failed:\n${out.slice(0, 4000)}`);
  });
}
