// Writes a randomly initialised CLIP checkpoint of a real architecture (src/clip/random.ts), for
// tests and speed measurements without downloading weights:
//
//   deno run -A scripts/make-random-clip.ts --arch ViT-B/32 --format hf --out /tmp/b32 [--seed 0]
//     [--dtype f32|f16]

import { parseFlags } from "../src/cli/common.ts";
import { CLIP_ARCHS, type ClipArchName } from "../src/clip/config.ts";
import type { CheckpointFormat } from "../src/clip/checkpoint.ts";
import { makeRandomClip } from "../src/clip/random.ts";

const USAGE = `usage: make-random-clip.ts --arch ${Object.keys(CLIP_ARCHS).join("|")} ` +
  "--format hf|openai --out DIR [--seed N] [--dtype f32|f16] (ResNets: openai only)";

async function main(): Promise<void> {
  const { values } = parseFlags({
    args: Deno.args,
    options: {
      arch: { type: "string" },
      format: { type: "string" },
      out: { type: "string" },
      seed: { type: "string", default: "0" },
      dtype: { type: "string", default: "f32" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.arch || !values.format || !values.out) throw new Error(`missing arguments\n${USAGE}`);
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed ${values.seed}: expected an integer`);
  const t0 = performance.now();
  const r = await makeRandomClip({
    arch: values.arch as ClipArchName,
    format: values.format as CheckpointFormat,
    out: values.out,
    seed,
    dtype: values.dtype as "f32" | "f16",
  });
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `${r.path}: ${(r.bytes / 1e6).toFixed(1)} MB, ${r.params.toLocaleString("en")} parameters ` +
      `(${values.arch}, ${values.format}, ${values.dtype}, seed ${seed}) in ${s} s`,
  );
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`make-random-clip: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
