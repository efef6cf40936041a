// The benches' random checkpoints: made once per architecture and dtype under $TMPDIR (or /tmp)
// and reused, so that a bench times the model and not its making.

import { join } from "node:path";
import { CLIP_ARCHS, type ClipArchName } from "../mod.ts";
import { makeRandomClip } from "../src/clip/random.ts";

/** The folder of a random `arch` checkpoint (seed 1), made first if it is not there. */
export async function randomCheckpoint(
  arch: ClipArchName,
  dtype: "f16" | "f32" = "f16",
): Promise<string> {
  const dir = join(
    Deno.env.get("TMPDIR") ?? "/tmp",
    `antidote-bench-${arch.replace("/", "-")}-${dtype}`,
  );
  // HF CLIPModel has no ResNet tower: ResNets are written as OpenAI state dicts.
  const format = CLIP_ARCHS[arch].visionKind === "resnet" ? "openai" : "hf";
  try {
    await Deno.stat(join(dir, format === "hf" ? "config.json" : "open_clip_config.json"));
  } catch {
    console.error(`making a random ${arch} checkpoint in ${dir} ...`);
    await makeRandomClip({ arch, format, out: dir, seed: 1, dtype });
  }
  return dir;
}
