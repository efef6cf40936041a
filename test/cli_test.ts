// A bad command line gets one line naming the flag and exit 2, never a stack trace.

import assert from "node:assert/strict";
import { describeShots } from "../src/cbpt/data.ts";

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
    ["purify.ts", ["--force"], /--force goes with --resume/],
    ["purify.ts", ["--patterns", "full,diagonal"], /--patterns full,diagonal: expected a list/],
    ["scan.ts", ["--patterns", "columns,columns", "--fixture", "clean"], /a shape is repeated/],
    ["scan.ts", ["--fixture", "clean", "--model", "m"], /--fixture clean brings .*drop --model/],
    ["classify.ts", ["--top", "x", "--model", "m", "--classes", "c", "a.png"], /--top x: expected/],
    [
      "classify.ts",
      ["--templates", "7", "--model", "m", "--classes", "c", "a.png"],
      /--templates 7/,
    ],
    ["scan-zoo.ts", ["--seed", "1.5"], /--seed 1\.5: expected a whole number/],
    ["purify.ts", ["--checkpoint-every=-1"], /--checkpoint-every -1: expected/],
    ["exit-race.ts", ["--runs", "0"], /--runs 0: expected a whole number/],
    ["fuzz.ts", ["--n=-1"], /--n -1: expected a whole number/],
    ...[
      "make-random-clip.ts",
      "backdoor.ts",
      "pretrain.ts",
      "attack-pictures.ts",
      "fixtures-readme.ts",
      "gpu-info.ts",
      "scan-zoo.ts",
      "evaluate.ts",
      "head-bound.ts",
      "compile-size.ts",
      "exit-race.ts",
      "fuzz.ts",
    ].map((s): [string, string[], RegExp] => [s, ["--frob"], /--frob/]),
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

Deno.test("purify.ts: numbers out of range are refused before anything loads", async () => {
  for (
    const args of [
      ["--epochs", "0"],
      ["--epochs=-5"],
      ["--lr=-1"],
      ["--epsilon", "2"],
      ["--epsilon=-0.1"],
      ["--n-ctx", "0"],
      ["--trigger-steps", "0"],
      ["--shots=-1"],
      ["--epochs", "1e300"],
      ["--batch", "0"],
      ["--views", "0"],
    ]
  ) {
    const r = await run("purify.ts", args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    const flag = args[0].split("=")[0];
    assert.match(r.stderr.trim(), new RegExp(`^error: ${flag}.*expected`), args.join(" "));
    assert.doesNotMatch(r.stderr, /demo:|stage 1/);
  }
});

Deno.test("describeShots: a class with no images is refused, short classes are counted", () => {
  const names = ["a", "b", "c"];
  const items = [0, 0, 1, 1, 1, 2].map((label) => ({ label }));
  assert.match(describeShots(items, names, 0, "x"), /^6 training images \(1–3 per class\)/);
  assert.match(
    describeShots(items, names, 3, "x"),
    /warning: x has fewer than 3 images .*a 2, c 1/,
  );
  assert.throws(() => describeShots(items.slice(0, 5), names, 2, "dir"), /dir: no images for "c"/);
});

Deno.test("entry points: --help is the usage on stdout, exit 0", async () => {
  for (
    const script of [
      "purify.ts",
      "classify.ts",
      "embed.ts",
      "scan.ts",
      "scan-zoo.ts",
      "evaluate.ts",
      "head-bound.ts",
      "make-random-clip.ts",
      "backdoor.ts",
      "pretrain.ts",
      "attack-pictures.ts",
      "fixtures-readme.ts",
      "gpu-info.ts",
      "compile-size.ts",
      "exit-race.ts",
      "fuzz.ts",
    ]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${root}scripts/${script}`, "--help"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, script);
    assert.match(new TextDecoder().decode(out.stdout), /usage/i, script);
  }
});

Deno.test("purify.ts --fixture with an unknown name lists the fixtures", async () => {
  const r = await run("purify.ts", ["--fixture", "foo"]);
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(
    r.stderr,
    /--fixture foo: .*the fixtures are badclip, badnet, blended, .*zoo\/clean-s1/,
  );
});

Deno.test("purify.ts: an --out that cannot take files fails first, naming it", async () => {
  const r = await run("purify.ts", ["--out", "/proc/antidote-cannot-write"]);
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /--out \/proc\/antidote-cannot-write: cannot write there/);
  assert.doesNotMatch(r.stderr, /demo:|stage 1/, "before any work");
});
