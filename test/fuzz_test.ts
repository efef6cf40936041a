// A bounded, seeded fuzz run over the readers that take strangers' files (scripts/fuzz.ts says
// what is mutated and how outcomes are judged): 3,000 mutations of real safetensors files,
// config.json and images, 7 s here (15 s on a busy machine). Every outcome must be a typed
// error naming the file (InputFileError, or ImageLoadError for images) or a load that an
// independent validator accepts; never another exception, a silent accept of a malformed file,
// or a refusal of a valid one. The script runs as a subprocess because test/ may not import
// scripts/ (test/floors_test.ts). A longer run: deno run -A scripts/fuzz.ts --n 100000 --seed N.

import assert from "node:assert/strict";

const SCRIPT = new URL("../scripts/fuzz.ts", import.meta.url).pathname;
const CASES = 3000;
const SEED = 20240611;

Deno.test({
  name: `fuzz: ${CASES} seeded mutations of safetensors, config.json and images`,
  fn: async () => {
    const t0 = performance.now();
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", SCRIPT, "--n", String(CASES), "--seed", String(SEED), "--examples", "10"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const seconds = (performance.now() - t0) / 1000;
    const stdout = new TextDecoder().decode(run.stdout).trim();
    const stderr = new TextDecoder().decode(run.stderr);
    const report = JSON.parse(stdout.split("\n").at(-1) || "null");
    assert.ok(report, `no report (exit ${run.code}):\n${stderr.slice(-2000)}`);
    console.log(`  ${stdout}`);
    const o = report.outcomes;
    assert.deepEqual(
      { crash: o.crash, "silent-accept": o["silent-accept"], "false-reject": o["false-reject"] },
      { crash: 0, "silent-accept": 0, "false-reject": 0 },
      `examples:\n${report.examples.join("\n")}`,
    );
    assert.equal(run.code, 0, stderr.slice(-2000));
    assert.equal(o["typed-error"] + o["valid-load"], CASES);
    // Each reader met both kinds of file: the mutations neither all break nor all miss.
    for (const target of ["safetensors", "config", "image"]) {
      const t = report.byTarget[target] ?? {};
      assert.ok(t["typed-error"] > 50 && t["valid-load"] > 50, `${target}: ${JSON.stringify(t)}`);
    }
    assert.ok(report.slowestMs < 5000, `slowest case ${report.slowestMs} ms: ${report.slowest}`);
    assert.ok(seconds < 30, `${seconds.toFixed(1)} s`);
  },
});
