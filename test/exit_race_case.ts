// A test module that test/exit_test.ts and scripts/exit-race.ts run in a child `deno test` (its
// name does not end in _test.ts, so the suite itself skips it): GPU work through the runtime,
// shaders that Mesa's cache has not seen, then the process exits. On the GL backend that exit
// raced libglvnd's destructors and glibc aborted after the summary (issue 14, defect 11).
// ANTIDOTE_RACE_RELEASE=1 calls eglReleaseThread at the end, which freed the thread's EGL state
// early and made aborts more frequent in a bare WebGPU module (17 of 200 runs against 5 of 200);
// this module with it aborted in 2 of 200 runs without the guard in device.ts, 0 of 400 with it.
import { initGpu } from "../mod.ts";

Deno.test("GPU work on fresh shaders, then exit", async () => {
  await initGpu(); // the runtime's device, and with it the exit guard
  // A second device, as any caller may open: its work is what the exit used to race.
  const device = await (await navigator.gpu.requestAdapter())!.requestDevice();
  const salt = Math.floor(Math.random() * 1e9);
  for (let k = 0; k < 8; k++) {
    const code = `@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  a[g.x] = a[g.x] * ${salt + k}.0 + sin(a[g.x] * ${k + 1}.5);
}`;
    const module = device.createShaderModule({ code });
    device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
  }
  device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE }).destroy();
  if (Deno.env.get("ANTIDOTE_RACE_RELEASE") === "1") {
    const egl = Deno.dlopen("libEGL.so.1", { eglReleaseThread: { parameters: [], result: "u32" } });
    if (!egl.symbols.eglReleaseThread()) throw new Error("eglReleaseThread failed");
  }
});
