// Prints the WebGPU adapter Deno finds: name, backend, fallback or not, features and limits.
// Usage: deno run -A scripts/gpu-info.ts [--json]

import { parseFlags } from "../src/cli/common.ts";
import { gpuInfo, runWithGpu } from "../mod.ts";

const { values } = parseFlags({
  args: Deno.args,
  options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
});
if (values.help) {
  console.log("usage: deno run -A scripts/gpu-info.ts [--json]");
  Deno.exit(0);
}

await runWithGpu(async () => {
  const info = await gpuInfo();
  if (values.json) {
    console.log(JSON.stringify(info, null, 2));
    return;
  }
  console.log(`adapter:   ${info.description}`);
  console.log(`vendor:    ${info.vendor || "-"}   architecture: ${info.architecture || "-"}`);
  console.log(`backend:   ${info.backend} (DENO_WEBGPU_BACKEND=vulkan|gl|metal|dx12 selects)`);
  console.log(`fallback:  ${info.isFallbackAdapter}   software: ${info.isSoftware}`);
  console.log(`features:  ${info.features.join(", ") || "(none)"}`);
  console.log("limits:");
  for (const [k, v] of Object.entries(info.limits).sort()) console.log(`  ${k.padEnd(44)} ${v}`);
});
