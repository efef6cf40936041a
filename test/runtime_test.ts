// The GPU runtime: batching (one submit per step), the pipeline cache, the buffer pool, and
// clear errors for a lost device or a missing adapter.

import assert from "node:assert/strict";
import { add, exp, initGpu, matmul, memoryStats, mul, SGD, sum, Tensor, tidy } from "../mod.ts";
import { rt } from "../src/gpu/runtime.ts";
import { sizeClass } from "../src/gpu/buffers.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

Deno.test("a forward+backward+update step is encoded without any submit; a read submits once", async () => {
  const w = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3], { requiresGrad: true });
  const x = Tensor.from([1, 0, 2, 1, 0, 3], [3, 2]);
  const opt = new SGD([w], { lr: 0.1, momentum: 0.9 });
  await rt().sync();
  const before = rt().submits;
  const loss = tidy(() => {
    const l = sum(exp(mul(matmul(w, x), 0.01)));
    l.backward();
    opt.step();
    opt.zeroGrad();
    return l;
  });
  assert.equal(rt().submits, before, "no submit while encoding the step");
  await loss.item();
  assert.equal(rt().submits, before + 1, "exactly one submit for the readback");
  for (const t of [w, x, loss]) t.dispose();
  opt.dispose();
});

Deno.test("one pipeline per kernel variant, whatever the shapes", async () => {
  const run = (n: number) =>
    tidy(() => {
      const a = Tensor.from(new Float32Array(n).fill(1), [n]);
      return add(exp(a), a);
    });
  // Two variants per op: sizes that are a multiple of 4 take the vec4 kernel.
  run(5).dispose();
  run(8).dispose();
  const count = rt().pipelineCount;
  for (const n of [7, 77, 513, 4096]) run(n).dispose();
  assert.equal(rt().pipelineCount, count);
  await rt().sync();
});

Deno.test("size classes waste at most 25% and are multiples of 256 bytes", () => {
  for (const b of [1, 255, 256, 257, 4000, 4097, 5000, 1 << 20, (1 << 20) + 1, 77 * 512 * 4]) {
    const c = sizeClass(b);
    assert.ok(c >= b && c % 256 === 0, `class ${c} for ${b}`);
    if (b > 4096) assert.ok(c <= 1.25 * b + 256, `class ${c} for ${b} wastes too much`);
  }
});

Deno.test("released buffers are reused, and uploads never reuse one a pending command uses", async () => {
  await rt().sync();
  const a = Tensor.from([1, 2, 3], [3]);
  const b = exp(a); // pending command writes b's buffer
  const bufB = b.buffer;
  b.dispose(); // back to the pool within the open batch
  const c = Tensor.from([7, 8, 9], [3]); // an upload: must not take bufB (writeBuffer runs early)
  assert.notEqual(c.buffer, bufB);
  const d = exp(a); // a kernel output may take it: commands run in order
  assert.equal(d.buffer, bufB);
  assert.deepEqual([...await c.toArray()], [7, 8, 9]);
  const e = Tensor.from([4, 5, 6], [3]); // after the submit, uploads may reuse anything
  assert.deepEqual([...await e.toArray()], [4, 5, 6]);
  for (const t of [a, c, d, e]) t.dispose();
  assert.ok(memoryStats().reused > 0);
});

async function runScript(code: string, env: Record<string, string> = {}) {
  // Inside the repo, so that package.json resolves mod.ts's npm imports.
  const file = await Deno.makeTempFile({
    dir: new URL("../", import.meta.url).pathname,
    prefix: ".tmp-",
    suffix: ".ts",
  });
  await Deno.writeTextFile(
    file,
    code.replaceAll("MOD", new URL("../mod.ts", import.meta.url).href),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", file],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(file);
  return {
    code: out.code,
    text: new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout),
  };
}

Deno.test("a lost device becomes a clear error at the next read, not a hang", async () => {
  const r = await runScript(`
import { exp, initGpu, Tensor } from "MOD";
import { rt } from "${new URL("../src/gpu/runtime.ts", import.meta.url).href}";
await initGpu();
const a = Tensor.from([1, 2], [2]);
rt().device.destroy();
try { await exp(a).toArray(); console.log("no error"); }
catch (e) { console.log("caught:", (e as Error).name, (e as Error).message); }
`);
  assert.match(r.text, /caught: GpuDeviceError .*(lost|readback)/, r.text);
});

Deno.test("no adapter: entry points print one line saying what to install", async () => {
  const r = await runScript(
    `import { runWithGpu, gpuInfo } from "MOD"; await runWithGpu(async () => { await gpuInfo(); });`,
    {
      DENO_WEBGPU_BACKEND: "vulkan",
      VK_ICD_FILENAMES: "/nonexistent.json",
      VK_DRIVER_FILES: "/nonexistent.json",
    },
  );
  assert.equal(r.code, 2, r.text);
  assert.match(r.text, /^error: No WebGPU adapter was found .*=gl tries OpenGL\)\..*mesa-vulkan/m);
  assert.doesNotMatch(r.text, /\s+at /, "no stack trace");
});

Deno.test("importing mod.ts opens no GPU; a tensor before initGpu says to await it", async () => {
  const r = await runScript(`
let asked = 0;
Object.defineProperty(navigator.gpu, "requestAdapter", {
  value: () => { asked++; return Promise.resolve(null); },
});
const { ClipTokenizer, initGpu, Tensor } = await import("MOD");
const tok = await ClipTokenizer.bundled();
console.log("tokens", tok.tokenize(["a photo of a cat."]).ids.slice(0, 3).join(","));
console.log("asked after import and tokenize:", asked);
try { Tensor.from([1], [1]); console.log("no error"); }
catch (e) { console.log("before init:", (e as Error).message); }
console.log("asked after Tensor.from:", asked);
try { await initGpu(); } catch (e) { console.log("init:", (e as Error).name); }
try { Tensor.from([1], [1]); } catch (e) { console.log("after failed init:", (e as Error).name); }
`);
  assert.match(r.text, /^tokens 49406,320,1125$/m, r.text);
  assert.match(r.text, /^asked after import and tokenize: 0$/m, r.text);
  assert.match(r.text, /^before init: the GPU is not open yet: `await initGpu\(\)`/m, r.text);
  assert.match(r.text, /^asked after Tensor.from: 0$/m, r.text);
  assert.match(r.text, /^init: GpuUnavailableError$/m, r.text);
  assert.match(r.text, /^after failed init: GpuUnavailableError$/m, r.text);
});
