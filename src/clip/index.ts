// CLIP's public surface: load a checkpoint onto the GPU in one call.

import { type ClipWeights, loadClipWeights, type LoadOptions } from "./checkpoint.ts";
import { Clip } from "./model.ts";
import { initRuntime } from "../gpu/runtime.ts";

/** A CLIP loaded by {@link loadClip}: the model, and where its weights came from. */
export interface LoadedClip extends Clip {
  /** Where the weights came from, and what the loader noticed (unknown extra tensors). */
  source: { path: string; format: ClipWeights["format"]; warnings: string[] };
}

/**
 * Loads an HF CLIPModel folder (config.json + model.safetensors, sharded or not) or an
 * OpenAI/open_clip state dict (.safetensors) onto the GPU, opening the GPU first if it is not
 * open yet. The loader's warnings go to `opts.warn`, else to stderr, and are kept in
 * `source.warnings`. The checkpoint's own pixel mean/std (preprocessor_config.json, open_clip's
 * preprocess_cfg; else CLIP's, or `opts.pixelStats`) become `clip.pixelStats`.
 */
export async function loadClip(
  path: string,
  opts: LoadOptions & { warn?: (line: string) => void } = {},
): Promise<LoadedClip> {
  const w = await loadClipWeights(path, opts);
  await initRuntime();
  // A suspicious checkpoint's oddities (tensors it carries that CLIP does not use) must reach a
  // person even when library code forgot to ask: stderr is the default, not silence.
  const warn = opts.warn ?? ((line: string) => console.warn(line));
  for (const msg of w.warnings) warn(`warning: ${path}: ${msg}`);
  const clip = Clip.fromWeights(w, { halfWeights: opts.halfWeights }) as LoadedClip;
  clip.source = { path, format: w.format, warnings: w.warnings };
  return clip;
}
