// The backdoor lab end to end: the committed backdoored fixtures keep their backdoor, the demo
// (purify.ts with no arguments, shortened) lowers ASR on the BadNet fixture and writes its files,
// and backdoor.ts and evaluate.ts run end to end for a few steps.

import assert from "node:assert/strict";
import { join } from "node:path";
import { ATTACK_NAMES } from "../src/attacks/index.ts";
import { ClipTokenizer, initGpu, loadClip } from "../mod.ts";
import { makeAttack } from "../src/attacks/index.ts";
import { DEMO_FIXTURE, fixturesDir, loadFixture, readBackdoorRecord } from "../src/lab/demo.ts";
import { loadFixtureSet } from "../src/lab/fixtures.ts";
import { cleanAndAttacked, measureFixture } from "../src/lab/measure.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

const root = new URL("../", import.meta.url).pathname;
const deno = Deno.execPath();

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(deno, {
    args: ["run", "-A", ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

// The target is also ASR >= 90 % for every fixture; not every backdoor took in the lab's
// small CLIP (fixtures/README.md lists them), so ASR is printed here and asserted for the demo's.
Deno.test("fixtures: each backdoored model measures as recorded, CA within 3 points of clean", async () => {
  const dir = fixturesDir();
  const test = await loadFixtureSet(join(dir, "data", "test.safetensors"));
  const cleanCa = await (async () => {
    const clip = await loadClip(join(dir, "clean"));
    const tok = await ClipTokenizer.fromDir(join(dir, "clean"));
    try {
      return (await cleanAndAttacked(clip, tok, test, makeAttack("badnet", { imageSize: 32 }), 8))
        .ca;
    } finally {
      clip.dispose();
    }
  })();
  for (const name of ATTACK_NAMES) {
    const fx = await loadFixture(name, dir);
    try {
      // Measured again on the committed model, the way backdoor.ts measured it.
      const m = await measureFixture(fx);
      const rec = fx.record.backdoored as { ca: number; asr: number };
      console.log(
        `  ${name}: CA ${(100 * m.ca).toFixed(1)} % (clean model ${
          (100 * cleanCa).toFixed(1)
        } %), ` +
          `ASR ${(100 * m.asr).toFixed(1)} %`,
      );
      assert.ok(Math.abs(m.ca - rec.ca) < 1e-9 && Math.abs(m.asr - rec.asr) < 1e-9, name);
      assert.ok(m.ca >= cleanCa - 0.03, `${name}: CA ${m.ca} vs clean ${cleanCa}`);
      assert.ok(m.asr > (fx.record.clean as { asr: number }).asr, `${name}: ASR rose`);
      if (name === DEMO_FIXTURE) assert.ok(m.asr >= 0.9, `${name}: ASR ${m.asr}`);
    } finally {
      fx.clip.dispose();
    }
  }
});

Deno.test("demo: purify.ts with no model runs CBPT on the demo fixture and lowers ASR", async () => {
  const out = await Deno.makeTempDir({ prefix: "antidote-demo-" });
  try {
    const r = await run([
      "scripts/purify.ts",
      "--out",
      out,
      "--epochs",
      "200",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`demo: ${DEMO_FIXTURE} fixture`));
    assert.match(r.stderr, /stage 1 \(trigger, ε 16\/255\) {2}step \d+\/60/);
    assert.match(r.stderr, /ETA/);
    const s = JSON.parse(r.stdout);
    console.log(
      `  CA ${s.ca_before} → ${s.ca_after}, ASR ${s.asr_before} → ${s.asr_after} ` +
        `(stage 1 ${s.seconds.trigger.toFixed(1)} s, stage 2 ${s.seconds.prompts.toFixed(1)} s)`,
    );
    assert.ok(s.asr_before >= 0.9, `the fixture's backdoor works: ASR ${s.asr_before}`);
    // Measured with 200 of the demo's 600 epochs: CA 86.3 → 78.0 %, ASR 99.0 → 0.7 % (BadNet).
    assert.ok(s.asr_after < 0.15, `ASR ${s.asr_before} → ${s.asr_after}`);
    for (const f of ["prompts.safetensors", "trigger.png", "report.json", "losses.png"]) {
      assert.ok((await Deno.stat(join(out, f))).size > 0, f);
    }
    const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
    assert.equal(report.attack.name, DEMO_FIXTURE);
    // BadNet's 8-px square is within reach at the first bound: the ladder does not climb.
    assert.deepEqual(
      report.trigger.attempts.map((a: { epsilon: number; suspected_target: string }) => [
        Math.round(a.epsilon * 255),
        a.suspected_target,
      ]),
      [[16, "sneaker"]],
    );
    // The aimed inversion's settings are the run's too (a --resume with others redoes stage 1),
    // and it stops early once sneaker holds and the loss is flat (measured: step 48 of 60).
    assert.equal(report.settings.trigger.search, "per-class");
    assert.equal(report.settings.trigger.inversion.steps, 60);
    assert.equal(report.settings.trigger.inversion.flatTolerance, 0.02);
    const ran = report.trigger.attempts[0].steps;
    assert.ok(ran < 60 && ran % 16 === 0, `stage 1 ran ${ran} of 60 steps`);
    assert.match(r.stderr, new RegExp(`the trigger settled after ${ran} of 60 steps`));
    assert.equal(s.trigger_steps, ran);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("demo on TrojVQA (bag): the untargeted search climbs the ε ladder to the patch's target", async () => {
  const out = await Deno.makeTempDir({ prefix: "antidote-trojvqa-" });
  try {
    const r = await run([
      "scripts/purify.ts",
      "--fixture",
      "zoo/trojvqa-bag",
      "--search",
      "untargeted",
      "--out",
      out,
      "--epochs",
      "200",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
    const tried = report.trigger.attempts.map((a: { epsilon: number; suspected_target: string }) =>
      `${Math.round(a.epsilon * 255)}/255 ${a.suspected_target}`
    );
    console.log(`  ${tried.join(", ")}; ASR ${report.asr_before} → ${report.asr_after}`);
    // Measured (seed 1): pullover 22 %, 55 %, 51 %, then bag 100 % at 128/255.
    assert.equal(tried.length, 4, `climbed to the top: ${tried}`);
    assert.equal(tried.at(-1), "128/255 bag");
    assert.equal(report.suspected_target.name, "bag");
    assert.match(r.stderr, /trying ε 32\/255/);
    assert.match(r.stderr, /note: the class changed while climbing/);
    // Measured with 200 epochs: ASR 100 → 0 %.
    assert.ok(report.asr_after < 0.1, `ASR ${report.asr_before} → ${report.asr_after}`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("backdoor.ts and evaluate.ts: a few steps end to end", async () => {
  const dir = await Deno.makeTempDir({ prefix: "antidote-lab-" });
  try {
    const fx = fixturesDir();
    const b = await run([
      "scripts/backdoor.ts",
      "--model",
      join(fx, "clean"),
      "--data",
      join(fx, "data"),
      "--attack",
      "sig",
      "--target",
      "bag",
      "--steps",
      "2",
      "--batch",
      "16",
      "--log-every",
      "1",
      "--out",
      join(dir, "sig"),
    ]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /step 2\/2 {2}loss \d/);
    const rec = await readBackdoorRecord(join(dir, "sig"));
    assert.equal(rec.targetIndex, 8);
    assert.equal(rec.steps, 2);
    // evaluate.ts reads a fixtures folder: the new model and the committed image sets.
    await Deno.symlink(join(fx, "data"), join(dir, "data"));
    const evalArgs = [
      "scripts/evaluate.ts",
      "--fixtures",
      dir,
      "--attack",
      "sig",
      "--defence",
      "none",
      "--out",
      join(dir, "docs"),
    ];
    const e = await run([...evalArgs, "--seeds", "1"]);
    assert.equal(e.code, 0, e.stderr);
    const rows = JSON.parse(await Deno.readTextFile(join(dir, "docs", "results.json")));
    assert.equal(rows.length, 1);
    for (const k of ["attack", "defence", "ca_mean", "ca_std", "asr_mean", "asr_std", "seconds"]) {
      assert.ok(k in rows[0], k);
    }
    assert.match(await Deno.readTextFile(join(dir, "docs", "results.md")), /\| sig +\|/);
    assert.ok((await Deno.stat(join(dir, "docs", "results.png"))).size > 0);
    // --add-seeds keeps a cell's measured seeds (none's one seed: nothing runs again) ...
    const again = await run([...evalArgs, "--add-seeds"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /sig \/ none: seeds 1-1 kept/);
    assert.doesNotMatch(again.stderr, /== sig \/ none \/ seed 1/);
    const path = join(dir, "docs", "results.json");
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path))[0].ca, rows[0].ca);
    // ... and refuses a cell measured with other settings.
    await Deno.writeTextFile(path, JSON.stringify([{ ...rows[0], settings: { epochs: 1 } }]));
    const other = await run([...evalArgs, "--add-seeds"]);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /--add-seeds: sig \/ none in .* was measured with other settings/);
    const bad = await run(["scripts/evaluate.ts", "--attack", "nope"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--attack nope: expected one of badnet/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("head-bound.ts: the free-head bound of the Blended fixture (JSON line)", async () => {
  const r = await run(["scripts/head-bound.ts", "--fixture", "blended", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const row = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assert.equal(row.fixture, "blended");
  for (const k of ["ca", "asr", "triggered_acc"]) {
    assert.ok(row[k] >= 0 && row[k] <= 1, `${k} = ${row[k]}`);
  }
  // Blended keeps class information in triggered features: measured CA 82.6 %, ASR 4.4 %.
  assert.ok(row.ca > 0.75 && row.asr < 0.2, JSON.stringify(row));
  const bad = await run(["scripts/head-bound.ts", "--fixture", "nonesuch"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /nonesuch/);
});

Deno.test("purify.ts --known-trigger: stage 2 against the fixture's own trigger", async () => {
  const out = await Deno.makeTempDir();
  const r = await run([
    "scripts/purify.ts",
    "--known-trigger",
    "--fixture",
    "blended",
    "--epochs",
    "2",
    "--views",
    "1",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
  assert.deepEqual(report.trigger.losses, [], "stage 1 did not run");
  assert.deepEqual(report.settings.trigger, { known: "mask" }, "Blended is a mask trigger");
  const rec = await readBackdoorRecord(join(fixturesDir(), "blended"));
  assert.equal(report.suspected_target.name, rec.target);
  assert.ok(report.suspected_target.share > 0.9, `share ${report.suspected_target.share}`);
  const wanet = await run(["scripts/purify.ts", "--known-trigger", "--fixture", "wanet"]);
  assert.notEqual(wanet.code, 0);
  assert.match(wanet.stderr, /wanet: its trigger is not a fixed per-pixel blend/);
  await Deno.remove(out, { recursive: true });
});
