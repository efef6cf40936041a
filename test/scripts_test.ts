// Entry points end to end, as a user runs them (a subprocess each).

import assert from "node:assert/strict";
import { readSafetensors, toFloat32 } from "../mod.ts";
import { sharedDir } from "./helpers.ts";

const shared = sharedDir();
const root = new URL("../", import.meta.url).pathname;

async function run(script: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}scripts/${script}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test({
  name: "embed.ts on tiny-a (HF layout) writes what openai/CLIP computes",
  ignore: !shared,
  fn: async () => {
    const d = `${shared}reference/tiny-a/`;
    const out = await Deno.makeTempFile({ suffix: ".safetensors" });
    const r = await run("embed.ts", [
      "--model",
      `${d}hf`,
      "--pixels",
      `${d}inputs.safetensors:pixels`,
      "--tokens",
      `${d}inputs.safetensors:tokens`,
      "--out",
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const got = await readSafetensors(out);
    const want = await readSafetensors(`${d}expected.safetensors`);
    for (const name of ["image_features", "text_features", "logits_per_image"]) {
      const g = toFloat32(got.tensors.get(name)!), w = toFloat32(want.tensors.get(name)!);
      const maxW = Math.max(...w.map(Math.abs));
      const maxD = Math.max(...g.map((v, i) => Math.abs(v - w[i])));
      assert.ok(maxD <= 1e-4 * maxW, `${name}: max |diff| ${maxD} > 1e-4 × ${maxW}`);
    }
    await Deno.remove(out);
  },
});

Deno.test("embed.ts: bad arguments give usage, a missing tensor names the file", async () => {
  const r = await run("embed.ts", ["--model", "x"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--model and --out are required|usage:/);
  if (!shared) return;
  const d = `${shared}reference/tiny-a/`;
  const r2 = await run("embed.ts", [
    "--model",
    `${d}hf`,
    "--pixels",
    `${d}inputs.safetensors:nope`,
    "--tokens",
    `${d}inputs.safetensors:tokens`,
    "--out",
    "/tmp/never.safetensors",
  ]);
  assert.notEqual(r2.code, 0);
  assert.match(r2.stderr, /inputs\.safetensors: no tensor named nope/);
});
