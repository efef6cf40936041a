// CLIP architecture numbers, where they come from (HF config.json, open_clip's model config,
// or openai/CLIP's inference from state-dict shapes), and the canonical tensor names and shapes
// they imply (OpenAI's state-dict convention, which src/clip/model.ts consumes).

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
  visionKind: "vit" | "resnet";
  embedDim: number;
  imageResolution: number;
  visionLayers: number;
  visionWidth: number;
  visionPatchSize: number;
  visionHeads: number;
  /** ResNet towers only: Bottleneck blocks per stage (layer1..layer4). */
  visionResLayers?: readonly number[];
  contextLength: number;
  vocabSize: number;
  transformerWidth: number;
  transformerHeads: number;
  transformerLayers: number;
  activation: Activation;
  layerNormEps: number;
}

const VOCAB = 49408;

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
  "ViT-B/32": vit(512, 224, 768, 12, 32, 77, VOCAB, 512, 12),
  "ViT-B/16": vit(512, 224, 768, 12, 16, 77, VOCAB, 512, 12),
  "ViT-L/14": vit(768, 224, 1024, 24, 14, 77, VOCAB, 768, 12),
  RN50: resnet(1024, 224, [3, 4, 6, 3], 64, 77, VOCAB, 512, 12),
  RN101: resnet(512, 224, [3, 4, 23, 3], 64, 77, VOCAB, 512, 12),
  RN50x4: resnet(640, 288, [4, 6, 10, 6], 80, 77, VOCAB, 640, 12),
  RN50x16: resnet(768, 384, [6, 8, 18, 8], 96, 77, VOCAB, 768, 12),
  RN50x64: resnet(1024, 448, [3, 15, 36, 10], 128, 77, VOCAB, 1024, 12),
  tiny: { ...vit(32, 32, 128, 2, 8, 16, 1000, 64, 2), transformerHeads: 4 },
  "tiny-rn": { ...resnet(32, 64, [1, 1, 1, 1], 16, 16, 1000, 64, 2), transformerHeads: 4 },
};
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
    bad.push(`visionKind ${JSON.stringify(c.visionKind)} (expected "vit" or "resnet")`);
  }
  for (const f of INT_FIELDS) {
    const v = c[f];
    if (!Number.isSafeInteger(v) || v <= 0) bad.push(`${f} ${v} (expected a positive integer)`);
  }
  if (c.visionKind === "resnet") {
    const l = c.visionResLayers;
    if (
      !Array.isArray(l) || l.length !== 4 || !l.every((n) => Number.isSafeInteger(n) && n > 0)
    ) {
      bad.push(
        `visionResLayers ${JSON.stringify(l)} (expected four positive block counts)`,
      );
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
    bad.push(`activation ${JSON.stringify(c.activation)} (expected "quick_gelu" or "gelu")`);
  }
  if (!(c.layerNormEps > 0)) bad.push(`layerNormEps ${c.layerNormEps} (expected > 0)`);
  if (bad.length) throw new Error(`${source}: invalid CLIP config: ${bad.join("; ")}`);
  return c;
}

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

// ---- openai/CLIP: inferred from shapes -------------------------------------------------------

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
    throw new Error(
      `${source}: cannot infer the CLIP config: missing ${missing.join(", ")} (openai/CLIP ` +
        `build_model reads their shapes)`,
    );
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
    throw new Error(
      `${source}: visual.attnpool.positional_embedding has ${rows} rows; expected a square ` +
        `grid plus one (build_model asserts it)`,
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

// ---- JSON configs --------------------------------------------------------------------------

type Json = Record<string, unknown>;

function reader(obj: unknown, where: string, source: string) {
  const o: Json = typeof obj === "object" && obj !== null && !Array.isArray(obj) ? obj as Json : {};
  const get = <T>(key: string, dflt: T, ok: (v: unknown) => boolean, want: string): T => {
    const v = o[key];
    if (v === undefined || v === null) return dflt;
    if (!ok(v)) {
      throw new Error(`${source}: ${where}${key} is ${JSON.stringify(v)}; expected ${want}`);
    }
    return v as T;
  };
  return {
    has: (key: string) => o[key] !== undefined && o[key] !== null,
    int: (key: string, dflt: number) =>
      get(key, dflt, (v) => Number.isSafeInteger(v) && (v as number) > 0, "a positive integer"),
    num: (key: string, dflt: number) =>
      get(key, dflt, (v) => typeof v === "number" && v > 0, "a positive number"),
    str: (key: string, dflt: string) => get(key, dflt, (v) => typeof v === "string", "a string"),
    bool: (key: string, dflt: boolean) =>
      get(key, dflt, (v) => typeof v === "boolean", "true or false"),
    raw: (key: string) => o[key],
  };
}

function hfActivation(act: string, where: string, source: string): Activation {
  if (act === "quick_gelu" || act === "gelu") return act;
  throw new Error(
    `${source}: ${where}hidden_act "${act}" is not supported; expected "quick_gelu" or "gelu"`,
  );
}

/** ClipConfig from a Hugging Face CLIPModel config.json (transformers' defaults fill gaps). */
export function configFromHf(json: unknown, source: string): ClipConfig {
  const top = reader(json, "", source);
  const modelType = top.str("model_type", "clip");
  if (modelType !== "clip") {
    throw new Error(`${source}: model_type "${modelType}" is not CLIP; expected "clip"`);
  }
  const t = reader(top.raw("text_config") ?? top.raw("text_config_dict"), "text_config.", source);
  const v = reader(
    top.raw("vision_config") ?? top.raw("vision_config_dict"),
    "vision_config.",
    source,
  );
  const tAct = hfActivation(t.str("hidden_act", "quick_gelu"), "text_config.", source);
  const vAct = hfActivation(v.str("hidden_act", "quick_gelu"), "vision_config.", source);
  if (tAct !== vAct) {
    throw new Error(
      `${source}: text_config.hidden_act "${tAct}" differs from vision_config.hidden_act ` +
        `"${vAct}"; expected one activation for both towers`,
    );
  }
  const tEps = t.num("layer_norm_eps", 1e-5), vEps = v.num("layer_norm_eps", 1e-5);
  if (tEps !== vEps) {
    throw new Error(
      `${source}: text_config.layer_norm_eps ${tEps} differs from vision_config.layer_norm_eps ` +
        `${vEps}; expected one value for both towers`,
    );
  }
  const c: ClipConfig = {
    visionKind: "vit",
    embedDim: top.int("projection_dim", t.int("projection_dim", 512)),
    imageResolution: v.int("image_size", 224),
    visionLayers: v.int("num_hidden_layers", 12),
    visionWidth: v.int("hidden_size", 768),
    visionPatchSize: v.int("patch_size", 32),
    visionHeads: v.int("num_attention_heads", 12),
    contextLength: t.int("max_position_embeddings", 77),
    vocabSize: t.int("vocab_size", VOCAB),
    transformerWidth: t.int("hidden_size", 512),
    transformerHeads: t.int("num_attention_heads", 8),
    transformerLayers: t.int("num_hidden_layers", 12),
    activation: tAct,
    layerNormEps: tEps,
  };
  const mlp = (r: typeof t, where: string, width: number) => {
    const got = r.int("intermediate_size", 4 * width);
    if (got !== 4 * width) {
      throw new Error(
        `${source}: ${where}intermediate_size ${got}; expected 4 × hidden_size = ${4 * width} ` +
          `(CLIP's MLP ratio)`,
      );
    }
  };
  mlp(t, "text_config.", c.transformerWidth);
  mlp(v, "vision_config.", c.visionWidth);
  const channels = v.int("num_channels", 3);
  if (channels !== 3) {
    throw new Error(`${source}: vision_config.num_channels ${channels}; expected 3`);
  }
  return validateConfig(c, source);
}

/** A Hugging Face CLIPModel config.json for a config (what transformers would write). */
export function hfConfigJson(c: ClipConfig, dtype: "float32" | "float16" = "float32"): Json {
  if (c.visionKind === "resnet") {
    throw new Error(
      "Hugging Face CLIPModel has no ResNet image tower; write ResNet CLIPs in the OpenAI format",
    );
  }
  return {
    architectures: ["CLIPModel"],
    model_type: "clip",
    projection_dim: c.embedDim,
    logit_scale_init_value: 2.6592,
    torch_dtype: dtype,
    text_config: {
      model_type: "clip_text_model",
      hidden_size: c.transformerWidth,
      intermediate_size: 4 * c.transformerWidth,
      num_attention_heads: c.transformerHeads,
      num_hidden_layers: c.transformerLayers,
      max_position_embeddings: c.contextLength,
      vocab_size: c.vocabSize,
      hidden_act: c.activation,
      layer_norm_eps: c.layerNormEps,
      bos_token_id: c.vocabSize - 2,
      eos_token_id: c.vocabSize - 1,
      pad_token_id: 1,
      projection_dim: c.embedDim,
    },
    vision_config: {
      model_type: "clip_vision_model",
      hidden_size: c.visionWidth,
      intermediate_size: 4 * c.visionWidth,
      num_attention_heads: c.visionHeads,
      num_hidden_layers: c.visionLayers,
      image_size: c.imageResolution,
      patch_size: c.visionPatchSize,
      num_channels: 3,
      hidden_act: c.activation,
      layer_norm_eps: c.layerNormEps,
      projection_dim: c.embedDim,
    },
  };
}

/**
 * ClipConfig from open_clip's model config: `open_clip_config.json` (`{model_cfg: {...}}`, as
 * on the HF hub) or a bare model config (`{embed_dim, vision_cfg, text_cfg, quick_gelu}`).
 * open_clip's defaults fill gaps (GELU unless quick_gelu is true; vision heads = width /
 * head_width).
 */
export function configFromOpenClip(json: unknown, source: string): ClipConfig {
  const root = reader(json, "", source);
  const top = reader(root.raw("model_cfg") ?? json, "model_cfg.", source);
  const vRaw = top.raw("vision_cfg"), tRaw = top.raw("text_cfg");
  const v = reader(vRaw, "vision_cfg.", source), t = reader(tRaw, "text_cfg.", source);
  const resLayers = v.raw("layers");
  const isResNet = Array.isArray(resLayers);
  if (
    isResNet &&
    (resLayers.length !== 4 || !resLayers.every((n) => Number.isSafeInteger(n) && n > 0))
  ) {
    throw new Error(
      `${source}: vision_cfg.layers is ${JSON.stringify(resLayers)}; expected a number (ViT) ` +
        `or four positive block counts (ModifiedResNet)`,
    );
  }
  for (
    const [r, where, keys] of [
      [v, "vision_cfg.", ["timm_model_name"]],
      [t, "text_cfg.", ["hf_model_name"]],
    ] as const
  ) {
    for (const k of keys) {
      if (r.has(k)) {
        throw new Error(
          `${source}: ${where}${k} towers are not supported; expected a CLIP ViT or ResNet`,
        );
      }
    }
  }
  for (const [r, where] of [[v, "vision_cfg."], [t, "text_cfg."]] as const) {
    const ratio = r.num("mlp_ratio", 4);
    if (ratio !== 4) throw new Error(`${source}: ${where}mlp_ratio ${ratio}; expected 4`);
  }
  const size = v.raw("image_size");
  const imageResolution = Array.isArray(size) && size.length === 2 && size[0] === size[1]
    ? Number(size[0])
    : v.int("image_size", 224);
  const text = {
    contextLength: t.int("context_length", 77),
    vocabSize: t.int("vocab_size", VOCAB),
    transformerWidth: t.int("width", 512),
    transformerHeads: t.int("heads", 8),
    transformerLayers: t.int("layers", 12),
    activation: top.bool("quick_gelu", false) ? "quick_gelu" as const : "gelu" as const,
    layerNormEps: 1e-5,
  };
  if (isResNet) {
    // open_clip's ModifiedResNet: heads = width · 32 / head_width; no patch size
    const width = v.int("width", 64), layers = resLayers as number[];
    return validateConfig({
      visionKind: "resnet",
      embedDim: top.int("embed_dim", 1024),
      imageResolution,
      visionLayers: layers.reduce((a, b) => a + b, 0),
      visionWidth: width,
      visionPatchSize: 32,
      visionHeads: (width * 32) / v.int("head_width", 64),
      visionResLayers: [...layers],
      ...text,
    }, source);
  }
  const visionWidth = v.int("width", 768);
  const c: ClipConfig = {
    visionKind: "vit",
    embedDim: top.int("embed_dim", 512),
    imageResolution,
    visionLayers: v.int("layers", 12),
    visionWidth,
    visionPatchSize: v.int("patch_size", 16),
    visionHeads: visionWidth / v.int("head_width", 64),
    ...text,
  };
  return validateConfig(c, source);
}

/** An open_clip_config.json for a config (the form open_clip pushes to the HF hub). */
export function openClipConfigJson(c: ClipConfig): Json {
  const vision = c.visionKind === "resnet"
    ? {
      image_size: c.imageResolution,
      layers: [...(c.visionResLayers ?? [])],
      width: c.visionWidth,
      head_width: (c.visionWidth * 32) / c.visionHeads,
      patch_size: null,
    }
    : {
      image_size: c.imageResolution,
      layers: c.visionLayers,
      width: c.visionWidth,
      head_width: c.visionWidth / c.visionHeads,
      patch_size: c.visionPatchSize,
    };
  return {
    model_cfg: {
      embed_dim: c.embedDim,
      quick_gelu: c.activation === "quick_gelu",
      vision_cfg: vision,
      text_cfg: {
        context_length: c.contextLength,
        vocab_size: c.vocabSize,
        width: c.transformerWidth,
        heads: c.transformerHeads,
        layers: c.transformerLayers,
      },
    },
    preprocess_cfg: {
      mean: [0.48145466, 0.4578275, 0.40821073],
      std: [0.26862954, 0.26130258, 0.27577711],
    },
  };
}
