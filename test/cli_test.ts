// A bad command line gets one line naming the flag and exit 2, never a stack trace.

import assert from "node:assert/strict";

const root = new URL("../", import.meta.url).pathname;

async function run(script: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}scripts/${script}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("entry points: unknown flags, missing values and switch values are one line, exit 2", async () => {
  const cases: [string, string[], RegExp][] = [
    ["purify.ts", ["--frob"], /--frob/],
    ["purify.ts", ["--epochs"], /--epochs/],
    ["purify.ts", ["--resume=yes"], /--resume/],
    ["classify.ts", ["--frob"], /--frob/],
    ["embed.ts", ["--frob"], /--frob/],
    ["scan.ts", ["--frob"], /--frob/],
    ["scan.ts", ["--shots", "-1", "--fixture", "clean"], /--shots/],
    ["scan.ts", ["--shots=-1", "--fixture", "clean"], /--shots -1: expected a whole number/],
  ];
  for (const [script, args, flag] of cases) {
    const r = await run(script, args);
    const lines = r.stderr.trim().split("\n");
    assert.equal(r.code, 2, `${script} ${args.join(" ")}: ${r.stderr}`);
    assert.equal(lines.length, 1, `${script} ${args.join(" ")}: ${r.stderr}`);
    assert.match(lines[0], flag);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});
