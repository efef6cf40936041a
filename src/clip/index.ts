// CLIP's public surface: load a checkpoint onto the GPU in one call.

import { type ClipWeights, loadClipWeights, type LoadOptions } from "./checkpoint.ts";
import { Clip } from "./model.ts";

export interface LoadedClip extends Clip {
  /** Where the weights came from, and what the loader noticed (unknown extra tensors). */
  source: { path: string; format: ClipWeights["format"]; warnings: string[] };
}

/**
 * Loads an HF CLIPModel folder (config.json + model.safetensors, sharded or not) or an
 * OpenAI/open_clip state dict (.safetensors) onto the GPU. Warnings go to stderr.
 */
export async function loadClip(path: string, opts: LoadOptions = {}): Promise<LoadedClip> {
  const w = await loadClipWeights(path, opts);
  for (const msg of w.warnings) console.warn(`warning: ${path}: ${msg}`);
  const clip = Clip.fromWeights(w, { halfWeights: opts.halfWeights }) as LoadedClip;
  clip.source = { path, format: w.format, warnings: w.warnings };
  return clip;
}
