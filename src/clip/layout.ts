// The canonical tensor names and shapes a CLIP config implies (OpenAI's state-dict convention,
// which src/clip/model.ts consumes), and the ResNet tower's block structure.

import type { ClipConfig } from "./config.ts";

/** Canonical (OpenAI state-dict) tensor names and shapes of a config, image tower first. */
export function canonicalShapes(c: ClipConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const W = c.visionWidth, T = c.transformerWidth, P = c.visionPatchSize;
  const grid = c.imageResolution / P;
  const blocks = (prefix: string, layers: number, w: number) => {
    for (let i = 0; i < layers; i++) {
      const b = `${prefix}resblocks.${i}.`;
      m.set(`${b}attn.in_proj_weight`, [3 * w, w]);
      m.set(`${b}attn.in_proj_bias`, [3 * w]);
      m.set(`${b}attn.out_proj.weight`, [w, w]);
      m.set(`${b}attn.out_proj.bias`, [w]);
      m.set(`${b}ln_1.weight`, [w]);
      m.set(`${b}ln_1.bias`, [w]);
      m.set(`${b}mlp.c_fc.weight`, [4 * w, w]);
      m.set(`${b}mlp.c_fc.bias`, [4 * w]);
      m.set(`${b}mlp.c_proj.weight`, [w, 4 * w]);
      m.set(`${b}mlp.c_proj.bias`, [w]);
      m.set(`${b}ln_2.weight`, [w]);
      m.set(`${b}ln_2.bias`, [w]);
    }
  };
  if (c.visionKind === "resnet") resnetShapes(c, m);
  else {
    m.set("visual.conv1.weight", [W, 3, P, P]);
    m.set("visual.class_embedding", [W]);
    m.set("visual.positional_embedding", [grid * grid + 1, W]);
    m.set("visual.ln_pre.weight", [W]);
    m.set("visual.ln_pre.bias", [W]);
    blocks("visual.transformer.", c.visionLayers, W);
    m.set("visual.ln_post.weight", [W]);
    m.set("visual.ln_post.bias", [W]);
    m.set("visual.proj", [W, c.embedDim]);
  }
  m.set("token_embedding.weight", [c.vocabSize, T]);
  m.set("positional_embedding", [c.contextLength, T]);
  blocks("transformer.", c.transformerLayers, T);
  m.set("ln_final.weight", [T]);
  m.set("ln_final.bias", [T]);
  m.set("text_projection", [T, c.embedDim]);
  m.set("logit_scale", []);
  return m;
}

/** The batch-norm tensors of a state dict (num_batches_tracked is not used, hence not listed). */
export const BATCH_NORM_TENSORS = ["weight", "bias", "running_mean", "running_var"] as const;

/**
 * openai/CLIP ModifiedResNet's tensors, in its state-dict order: the 3-conv stem, Bottleneck
 * blocks (a downsample branch on the first block of a stage when it changes stride or width),
 * the attention pool.
 */
function resnetShapes(c: ClipConfig, m: Map<string, number[]>): void {
  const W = c.visionWidth;
  const bn = (prefix: string, n: number) => {
    for (const t of BATCH_NORM_TENSORS) m.set(`${prefix}.${t}`, [n]);
  };
  m.set("visual.conv1.weight", [W / 2, 3, 3, 3]);
  bn("visual.bn1", W / 2);
  m.set("visual.conv2.weight", [W / 2, W / 2, 3, 3]);
  bn("visual.bn2", W / 2);
  m.set("visual.conv3.weight", [W, W / 2, 3, 3]);
  bn("visual.bn3", W);
  for (const b of resnetBlocks(c)) {
    m.set(`${b.prefix}.conv1.weight`, [b.planes, b.inplanes, 1, 1]);
    bn(`${b.prefix}.bn1`, b.planes);
    m.set(`${b.prefix}.conv2.weight`, [b.planes, b.planes, 3, 3]);
    bn(`${b.prefix}.bn2`, b.planes);
    m.set(`${b.prefix}.conv3.weight`, [4 * b.planes, b.planes, 1, 1]);
    bn(`${b.prefix}.bn3`, 4 * b.planes);
    if (b.downsample) {
      m.set(`${b.prefix}.downsample.0.weight`, [4 * b.planes, b.inplanes, 1, 1]);
      bn(`${b.prefix}.downsample.1`, 4 * b.planes);
    }
  }
  const E = 32 * W, grid = c.imageResolution / 32;
  m.set("visual.attnpool.positional_embedding", [grid * grid + 1, E]);
  for (const p of ["k", "q", "v"]) {
    m.set(`visual.attnpool.${p}_proj.weight`, [E, E]);
    m.set(`visual.attnpool.${p}_proj.bias`, [E]);
  }
  m.set("visual.attnpool.c_proj.weight", [c.embedDim, E]);
  m.set("visual.attnpool.c_proj.bias", [c.embedDim]);
}

/** One Bottleneck block of a ResNet tower (upstream `ModifiedResNet._make_layer`). */
export interface ResNetBlock {
  /** State-dict prefix, e.g. "visual.layer2.0". */
  prefix: string;
  inplanes: number;
  planes: number;
  stride: number;
  downsample: boolean;
}

/** The Bottleneck blocks of a ResNet config, in order. */
export function resnetBlocks(
  c: Pick<ClipConfig, "visionWidth" | "visionResLayers">,
): ResNetBlock[] {
  const out: ResNetBlock[] = [];
  const layers = c.visionResLayers ?? [];
  let inplanes = c.visionWidth;
  layers.forEach((count, s) => {
    const planes = c.visionWidth * 2 ** s;
    for (let j = 0; j < count; j++) {
      const stride = j === 0 && s > 0 ? 2 : 1;
      const downsample = j === 0 && (stride > 1 || inplanes !== 4 * planes);
      out.push({ prefix: `visual.layer${s + 1}.${j}`, inplanes, planes, stride, downsample });
      inplanes = 4 * planes;
    }
  });
  return out;
}
