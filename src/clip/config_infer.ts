// openai/CLIP's build_model: the architecture inferred from a state dict's tensor shapes (an
// OpenAI checkpoint carries no config file).

import type { ClipConfig } from "./config.ts";
import { InputFileError } from "../io/strict.ts";

/** The rank build_model expects of each tensor it reads a size from. */
const RANKS: Record<string, number> = {
  "visual.conv1.weight": 4,
  "visual.positional_embedding": 2,
  "text_projection": 2,
  "positional_embedding": 2,
  "token_embedding.weight": 2,
  "ln_final.weight": 1,
  "visual.layer1.0.conv1.weight": 4,
  "visual.attnpool.positional_embedding": 2,
};

/** Tensors whose shapes openai/CLIP's build_model reads to infer the architecture. */
export const OPENAI_INFERENCE_KEYS = [
  "visual.conv1.weight",
  "visual.positional_embedding",
  "text_projection",
  "positional_embedding",
  "token_embedding.weight",
  "ln_final.weight",
] as const;

/** What build_model reads for a ResNet image tower (recognised by visual.layer1.*). */
export const OPENAI_RESNET_INFERENCE_KEYS = [
  "visual.layer1.0.conv1.weight",
  "visual.attnpool.positional_embedding",
  "text_projection",
  "positional_embedding",
  "token_embedding.weight",
  "ln_final.weight",
] as const;

/**
 * The config openai/CLIP `build_model` infers from a state dict: widths, patch, grid and
 * vocabulary from shapes, layer counts from the resblock indices, heads = width / 64, QuickGELU.
 * A ResNet tower (visual.layer1.* present) gets its block counts from the distinct block indices
 * of visual.layer{1..4}, its width from layer1.0.conv1, its resolution from the attention pool's
 * positional embedding (32 · √(rows - 1)) and width · 32 / 64 heads.
 */
export function inferOpenAIConfig(shapes: Map<string, number[]>, source: string): ClipConfig {
  const isResNet = [...shapes.keys()].some((k) => k.startsWith("visual.layer1."));
  const keys = isResNet ? OPENAI_RESNET_INFERENCE_KEYS : OPENAI_INFERENCE_KEYS;
  const missing = keys.filter((k) => !shapes.has(k));
  if (missing.length) {
    throw new InputFileError(
      source,
      `cannot infer the CLIP config: missing ${missing.join(", ")} (openai/CLIP build_model ` +
        `reads their shapes)`,
    );
  }
  for (const k of keys) {
    const shape = shapes.get(k)!;
    if (shape.length !== RANKS[k]) {
      throw new InputFileError(
        source,
        `cannot infer the CLIP config: ${k} has ${shape.length} dimensions; expected ` +
          `${RANKS[k]} (openai/CLIP build_model reads its shape)`,
      );
    }
  }
  if (isResNet) return inferOpenAIResNet(shapes, source);
  const s = (k: string) => shapes.get(k)!;
  const layers = (re: RegExp) => {
    let n = 0;
    for (const k of shapes.keys()) {
      const m = re.exec(k);
      if (m) n = Math.max(n, Number(m[1]) + 1);
    }
    return n;
  };
  const conv = s("visual.conv1.weight");
  const visionWidth = conv[0], patch = conv[conv.length - 1];
  const grid = Math.round(Math.sqrt(s("visual.positional_embedding")[0] - 1));
  const transformerWidth = s("ln_final.weight")[0];
  return {
    visionKind: "vit",
    embedDim: s("text_projection")[1],
    imageResolution: patch * grid,
    visionLayers: layers(/^visual\.transformer\.resblocks\.(\d+)\./),
    visionWidth,
    visionPatchSize: patch,
    visionHeads: Math.floor(visionWidth / 64),
    contextLength: s("positional_embedding")[0],
    vocabSize: s("token_embedding.weight")[0],
    transformerWidth,
    transformerHeads: Math.floor(transformerWidth / 64),
    transformerLayers: layers(/^transformer\.resblocks\.(\d+)\./),
    activation: "quick_gelu",
    layerNormEps: 1e-5,
  };
}

function inferOpenAIResNet(shapes: Map<string, number[]>, source: string): ClipConfig {
  const s = (k: string) => shapes.get(k)!;
  const counts = [1, 2, 3, 4].map((b) => {
    const ids = new Set<string>();
    for (const k of shapes.keys()) {
      if (k.startsWith(`visual.layer${b}`)) ids.add(k.split(".")[2]);
    }
    return ids.size;
  });
  const visionWidth = s("visual.layer1.0.conv1.weight")[0];
  const rows = s("visual.attnpool.positional_embedding")[0];
  const grid = Math.round(Math.sqrt(rows - 1));
  if (grid * grid + 1 !== rows) {
    throw new InputFileError(
      source,
      `visual.attnpool.positional_embedding has ${rows} rows; expected a square grid plus ` +
        `one (build_model asserts it)`,
    );
  }
  const transformerWidth = s("ln_final.weight")[0];
  const layers = (re: RegExp) => {
    let n = 0;
    for (const k of shapes.keys()) {
      const m = re.exec(k);
      if (m) n = Math.max(n, Number(m[1]) + 1);
    }
    return n;
  };
  return {
    visionKind: "resnet",
    embedDim: s("text_projection")[1],
    imageResolution: grid * 32,
    visionLayers: counts.reduce((a, b) => a + b, 0),
    visionWidth,
    visionPatchSize: 32,
    visionHeads: Math.floor((visionWidth * 32) / 64),
    visionResLayers: counts,
    contextLength: s("positional_embedding")[0],
    vocabSize: s("token_embedding.weight")[0],
    transformerWidth,
    transformerHeads: Math.floor(transformerWidth / 64),
    transformerLayers: layers(/^transformer\.resblocks\.(\d+)\./),
    activation: "quick_gelu",
    layerNormEps: 1e-5,
  };
}
