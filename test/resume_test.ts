// Resuming a killed purification (issue "Hardening", defects 9 and 10): kill -9 during stage 2,
// then --resume: stage 1 is not run again, stage 2 goes on from its last checkpoint, and the
// prompts equal an uninterrupted run's; the killed run left the earlier run's files whole; a
// resume with other settings is refused, and --force takes them and says so in report.json.

import assert from "node:assert/strict";
import { join } from "node:path";
import { readSafetensors, toFloat32 } from "../src/io/safetensors.ts";

const script = new URL("../scripts/purify.ts", import.meta.url).pathname;
// Small stages so that four runs fit in CI: the untargeted search with one bound, a fixed
// recipe, 150 full-batch epochs, a checkpoint after every epoch.
const SMALL = [
  "--fixture",
  "badnet",
  "--search",
  "untargeted",
  "--epsilon-ladder",
  "none",
  "--trigger-steps",
  "5",
  "--trigger-batch",
  "16",
  "--recipe",
  "fixed",
  "--epochs",
  "150",
  "--checkpoint-every",
  "0",
];

function purify(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "piped",
    stderr: "piped",
  });
}

async function run(args: string[]) {
  const r = await purify(args).output();
  return {
    code: r.code,
    stdout: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

async function ctxOf(dir: string): Promise<Float32Array> {
  const st = await readSafetensors(join(dir, "prompts.safetensors"));
  return toFloat32(st.tensors.get("ctx")!, "ctx");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("purify --resume after kill -9 in stage 2: no second stage 1, the same prompts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "antidote-resume-" });
  try {
    const full = join(dir, "full"), out = join(dir, "out");
    const a = await run([...SMALL, "--out", full]);
    assert.equal(a.code, 0, a.stderr);
    const want = await ctxOf(full);

    // An earlier run's set in `out`, then a fresh run into it, killed once stage 2 has saved a
    // checkpoint (so stage 1 is done and its state written).
    const first = await run([...SMALL, "--out", out]);
    assert.equal(first.code, 0, first.stderr);
    const before = await Deno.readFile(join(out, "report.json"));
    const child = purify([...SMALL, "--out", out]).spawn();
    const checkpoint = join(out, "checkpoint.safetensors");
    // A fresh run removes the earlier state first; wait for the new run's first checkpoint.
    const t0 = Date.now();
    while (await exists(checkpoint)) await new Promise((r) => setTimeout(r, 20));
    while (!(await exists(checkpoint))) {
      assert.ok(Date.now() - t0 < 300_000, "no checkpoint within 5 minutes");
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    await child.output();
    assert.deepEqual(
      await Deno.readFile(join(out, "report.json")),
      before,
      "the killed run left the earlier run's report whole",
    );

    const c = await run([...SMALL, "--out", out, "--resume"]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, /resume: stage 1 from .*stage1\.safetensors \(not run again\)/);
    assert.doesNotMatch(c.stderr, /stage 1 \(trigger/, "stage 1 ran again");
    const from = /resume: stage 2 from its checkpoint at epoch (\d+)\/150/.exec(c.stderr);
    assert.ok(from && Number(from[1]) >= 1, `stage 2 did not resume:\n${c.stderr}`);
    const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
    assert.equal(report.resume.stage1_reused, true);
    assert.equal(report.prompts.resumed_from_epoch, Number(from![1]));
    const got = await ctxOf(out);
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
    assert.equal(maxDiff, 0, `resumed prompts differ from the uninterrupted run's by ${maxDiff}`);

    // Other settings: refused, naming them; --force takes them and records them.
    const refused = await run([...SMALL, "--out", out, "--resume", "--lr", "0.02"]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /--resume: .* other settings \(tune\.lr 0\.01 → 0\.02\).*--force/);
    const forced = await run([...SMALL, "--out", out, "--resume", "--force", "--lr", "0.02"]);
    assert.equal(forced.code, 0, forced.stderr);
    const r2 = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
    assert.deepEqual(r2.resume.forced_changes, ["tune.lr 0.01 → 0.02"]);
    assert.equal(r2.settings.tune.lr, 0.02);
    const noResume = await run([...SMALL, "--out", out, "--force"]);
    assert.equal(noResume.code, 2);
    assert.match(noResume.stderr, /--force goes with --resume/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
