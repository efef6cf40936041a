// CLIP architecture numbers: the config type, the released architectures' presets, and the
// checks every config passes. Where configs come from: config_json.ts (HF config.json,
// open_clip's model config) and config_infer.ts (openai/CLIP's inference from state-dict
// shapes); the tensors a config implies: layout.ts.

import { InputFileError, preview } from "../io/strict.ts";

/** The MLP activation: CLIP's QuickGELU (x·σ(1.702x)) or the exact GELU. */
export type Activation = "quick_gelu" | "gelu";

/**
 * A CLIP: a ViT (`visionKind: "vit"`) or an OpenAI ModifiedResNet (`"resnet"`, the RN50
 * family) image tower, and the causal text transformer. For a ResNet tower `visionResLayers`
 * holds the Bottleneck blocks of its four stages (upstream's vision_layers tuple),
 * `visionLayers` their total, `visionWidth` the stem width (stage widths are 1, 2, 4, 8 times
 * it, expanded 4×; the attention pool works on 32·visionWidth channels), `visionHeads` the
 * attention pool's heads, and `visionPatchSize` is 32: the tower's total stride, so that each
 * attention-pool token covers 32 × 32 pixels (upstream has no patch size for ResNets).
 */
export interface ClipConfig {
  /** The image tower: a ViT or OpenAI's ModifiedResNet. */
  visionKind: "vit" | "resnet";
  /** Width of the joint image–text embedding. */
  embedDim: number;
  /** Side of the square input image, in pixels. */
  imageResolution: number;
  /** Transformer blocks of a ViT tower; a ResNet tower's Bottleneck blocks in all. */
  visionLayers: number;
  /** A ViT's width; a ResNet's stem width. */
  visionWidth: number;
  /** A ViT's patch side; 32 (the total stride) for a ResNet. */
  visionPatchSize: number;
  /** Attention heads of the ViT (or of the ResNet's attention pool). */
  visionHeads: number;
  /** ResNet towers only: Bottleneck blocks per stage (layer1..layer4). */
  visionResLayers?: readonly number[];
  /** Tokens per text, SOT and EOT included. */
  contextLength: number;
  /** Rows of the token embedding (49,408 for CLIP's BPE). */
  vocabSize: number;
  /** Width of the text transformer. */
  transformerWidth: number;
  /** Attention heads of the text transformer. */
  transformerHeads: number;
  /** Blocks of the text transformer. */
  transformerLayers: number;
  /** The MLPs' activation, in both towers. */
  activation: Activation;
  /** Layer norm's epsilon. */
  layerNormEps: number;
}

/** The size of CLIP's BPE vocabulary, which every released checkpoint uses. */
export const CLIP_VOCAB_SIZE = 49408;

/**
 * The released OpenAI architectures (ViTs and the RN50 family), the tiny ViT of
 * fixtures/oracle/reference/tiny-a and the tiny ResNet of fixtures/oracle/reference/tiny-rn.
 */
export const CLIP_ARCHS: Readonly<
  Record<
    | "ViT-B/32"
    | "ViT-B/16"
    | "ViT-L/14"
    | "RN50"
    | "RN101"
    | "RN50x4"
    | "RN50x16"
    | "RN50x64"
    | "tiny"
    | "tiny-rn",
    ClipConfig
  >
> = {
  "ViT-B/32": vit(512, 224, 768, 12, 32, 77, CLIP_VOCAB_SIZE, 512, 12),
  "ViT-B/16": vit(512, 224, 768, 12, 16, 77, CLIP_VOCAB_SIZE, 512, 12),
  "ViT-L/14": vit(768, 224, 1024, 24, 14, 77, CLIP_VOCAB_SIZE, 768, 12),
  RN50: resnet(1024, 224, [3, 4, 6, 3], 64, 77, CLIP_VOCAB_SIZE, 512, 12),
  RN101: resnet(512, 224, [3, 4, 23, 3], 64, 77, CLIP_VOCAB_SIZE, 512, 12),
  RN50x4: resnet(640, 288, [4, 6, 10, 6], 80, 77, CLIP_VOCAB_SIZE, 640, 12),
  RN50x16: resnet(768, 384, [6, 8, 18, 8], 96, 77, CLIP_VOCAB_SIZE, 768, 12),
  RN50x64: resnet(1024, 448, [3, 15, 36, 10], 128, 77, CLIP_VOCAB_SIZE, 1024, 12),
  tiny: { ...vit(32, 32, 128, 2, 8, 16, 1000, 64, 2), transformerHeads: 4 },
  "tiny-rn": { ...resnet(32, 64, [1, 1, 1, 1], 16, 16, 1000, 64, 2), transformerHeads: 4 },
};
/** The names of CLIP_ARCHS' architectures ("ViT-B/32", "RN50", …, "tiny"). */
export type ClipArchName = keyof typeof CLIP_ARCHS;

function vit(
  embedDim: number,
  imageResolution: number,
  visionWidth: number,
  visionLayers: number,
  visionPatchSize: number,
  contextLength: number,
  vocabSize: number,
  transformerWidth: number,
  transformerLayers: number,
): ClipConfig {
  return {
    visionKind: "vit",
    embedDim,
    imageResolution,
    visionLayers,
    visionWidth,
    visionPatchSize,
    visionHeads: visionWidth / 64,
    contextLength,
    vocabSize,
    transformerWidth,
    transformerHeads: transformerWidth / 64,
    transformerLayers,
    activation: "quick_gelu",
    layerNormEps: 1e-5,
  };
}

/** An OpenAI ModifiedResNet CLIP (heads as upstream build_model: width · 32 / 64). */
function resnet(
  embedDim: number,
  imageResolution: number,
  layers: readonly number[],
  visionWidth: number,
  contextLength: number,
  vocabSize: number,
  transformerWidth: number,
  transformerLayers: number,
): ClipConfig {
  return {
    visionKind: "resnet",
    embedDim,
    imageResolution,
    visionLayers: layers.reduce((a, b) => a + b, 0),
    visionWidth,
    visionPatchSize: 32,
    visionHeads: (visionWidth * 32) / 64,
    visionResLayers: [...layers],
    contextLength,
    vocabSize,
    transformerWidth,
    transformerHeads: transformerWidth / 64,
    transformerLayers,
    activation: "quick_gelu",
    layerNormEps: 1e-5,
  };
}

const INT_FIELDS = [
  "embedDim",
  "imageResolution",
  "visionLayers",
  "visionWidth",
  "visionPatchSize",
  "visionHeads",
  "contextLength",
  "vocabSize",
  "transformerWidth",
  "transformerHeads",
  "transformerLayers",
] as const;

/** Throws one error (naming `source`) listing every field that is not a valid CLIP config. */
export function validateConfig(c: ClipConfig, source: string): ClipConfig {
  const bad: string[] = [];
  if (c.visionKind !== "vit" && c.visionKind !== "resnet") {
    bad.push(`visionKind ${preview(c.visionKind)} (expected "vit" or "resnet")`);
  }
  for (const f of INT_FIELDS) {
    const v = c[f];
    if (!Number.isSafeInteger(v) || v <= 0) {
      bad.push(`${f} ${preview(v)} (expected a positive integer)`);
    }
  }
  if (c.visionKind === "resnet") {
    const l = c.visionResLayers;
    if (
      !Array.isArray(l) || l.length !== 4 || !l.every((n) => Number.isSafeInteger(n) && n > 0)
    ) {
      bad.push(`visionResLayers ${preview(l)} (expected four positive block counts)`);
    } else if (l.reduce((a, b) => a + b, 0) !== c.visionLayers) {
      bad.push(`visionLayers ${c.visionLayers} is not the sum of visionResLayers [${l}]`);
    }
    if (c.visionWidth % 2) {
      bad.push(`visionWidth ${c.visionWidth} is odd (the stem's first convolutions have half)`);
    }
    if (c.visionPatchSize !== 32) {
      bad.push(`visionPatchSize ${c.visionPatchSize} (a ResNet tower's total stride is 32)`);
    }
    if ((c.visionWidth * 32) % c.visionHeads) {
      bad.push(
        `the attention pool's width ${c.visionWidth * 32} (32 × visionWidth) is not ` +
          `divisible by visionHeads ${c.visionHeads}`,
      );
    }
  } else {
    if (c.visionResLayers !== undefined) {
      bad.push("visionResLayers is set on a ViT config (it belongs to ResNet towers)");
    }
    if (c.visionWidth % c.visionHeads) {
      bad.push(`visionWidth ${c.visionWidth} is not divisible by visionHeads ${c.visionHeads}`);
    }
  }
  if (c.transformerWidth % c.transformerHeads) {
    bad.push(
      `transformerWidth ${c.transformerWidth} is not divisible by transformerHeads ` +
        `${c.transformerHeads}`,
    );
  }
  if (c.imageResolution % c.visionPatchSize) {
    bad.push(
      `imageResolution ${c.imageResolution} is not a multiple of visionPatchSize ` +
        `${c.visionPatchSize}`,
    );
  }
  if (c.activation !== "quick_gelu" && c.activation !== "gelu") {
    bad.push(`activation ${preview(c.activation)} (expected "quick_gelu" or "gelu")`);
  }
  if (!(c.layerNormEps > 0)) bad.push(`layerNormEps ${preview(c.layerNormEps)} (expected > 0)`);
  if (bad.length) throw new InputFileError(source, `invalid CLIP config: ${bad.join("; ")}`);
  return c;
}
