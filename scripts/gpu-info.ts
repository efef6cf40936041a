// Prints the WebGPU adapter Deno finds: name, backend, fallback or not, features and limits.
// Usage: deno run -A scripts/gpu-info.ts [--json]

import { parseArgs } from "node:util";
import { gpuInfo, runWithGpu } from "../mod.ts";

const { values } = parseArgs({ args: Deno.args, options: { json: { type: "boolean" } } });

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
