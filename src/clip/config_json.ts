// CLIP configs as JSON files: Hugging Face's config.json and open_clip's model config, read
// (strictly, naming the file and field) and written.

import { type Activation, CLIP_VOCAB_SIZE, type ClipConfig, validateConfig } from "./config.ts";
import { InputFileError, preview } from "../io/strict.ts";
import { CLIP_PIXEL_STATS, type PixelStats } from "./pixel_stats.ts";

type Json = Record<string, unknown>;

function reader(obj: unknown, where: string, source: string) {
  const o: Json = typeof obj === "object" && obj !== null && !Array.isArray(obj) ? obj as Json : {};
  const get = <T>(key: string, dflt: T, ok: (v: unknown) => boolean, want: string): T => {
    const v = o[key];
    if (v === undefined || v === null) return dflt;
    if (!ok(v)) {
      throw new InputFileError(source, `${where}${key} is ${preview(v)}; expected ${want}`);
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
  throw new InputFileError(
    source,
    `${where}hidden_act ${preview(act)} is not supported; expected "quick_gelu" or "gelu"`,
  );
}

/** ClipConfig from a Hugging Face CLIPModel config.json (transformers' defaults fill gaps). */
export function configFromHf(json: unknown, source: string): ClipConfig {
  const top = reader(json, "", source);
  const modelType = top.str("model_type", "clip");
  if (modelType !== "clip") {
    throw new InputFileError(
      source,
      `model_type ${preview(modelType)} is not CLIP; expected "clip"`,
    );
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
    throw new InputFileError(
      source,
      `text_config.hidden_act "${tAct}" differs from vision_config.hidden_act "${vAct}"; ` +
        `expected one activation for both towers`,
    );
  }
  const tEps = t.num("layer_norm_eps", 1e-5), vEps = v.num("layer_norm_eps", 1e-5);
  if (tEps !== vEps) {
    throw new InputFileError(
      source,
      `text_config.layer_norm_eps ${tEps} differs from vision_config.layer_norm_eps ${vEps}; ` +
        `expected one value for both towers`,
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
    vocabSize: t.int("vocab_size", CLIP_VOCAB_SIZE),
    transformerWidth: t.int("hidden_size", 512),
    transformerHeads: t.int("num_attention_heads", 8),
    transformerLayers: t.int("num_hidden_layers", 12),
    activation: tAct,
    layerNormEps: tEps,
  };
  const mlp = (r: typeof t, where: string, width: number) => {
    const got = r.int("intermediate_size", 4 * width);
    if (got !== 4 * width) {
      throw new InputFileError(
        source,
        `${where}intermediate_size ${got}; expected 4 × hidden_size = ${4 * width} ` +
          `(CLIP's MLP ratio)`,
      );
    }
  };
  mlp(t, "text_config.", c.transformerWidth);
  mlp(v, "vision_config.", c.visionWidth);
  const channels = v.int("num_channels", 3);
  if (channels !== 3) {
    throw new InputFileError(source, `vision_config.num_channels ${channels}; expected 3`);
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
    throw new InputFileError(
      source,
      `vision_cfg.layers is ${preview(resLayers)}; expected a number (ViT) or four positive ` +
        `block counts (ModifiedResNet)`,
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
        throw new InputFileError(
          source,
          `${where}${k} towers are not supported; expected a CLIP ViT or ResNet`,
        );
      }
    }
  }
  for (const [r, where] of [[v, "vision_cfg."], [t, "text_cfg."]] as const) {
    const ratio = r.num("mlp_ratio", 4);
    if (ratio !== 4) throw new InputFileError(source, `${where}mlp_ratio ${ratio}; expected 4`);
  }
  const size = v.raw("image_size");
  const imageResolution = Array.isArray(size) && size.length === 2 && size[0] === size[1]
    ? Number(size[0])
    : v.int("image_size", 224);
  const text = {
    contextLength: t.int("context_length", 77),
    vocabSize: t.int("vocab_size", CLIP_VOCAB_SIZE),
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

/**
 * An open_clip_config.json for a config (the form open_clip pushes to the HF hub), its
 * preprocess_cfg holding `stats`' mean/std (CLIP's by default).
 */
export function openClipConfigJson(c: ClipConfig, stats: PixelStats = CLIP_PIXEL_STATS): Json {
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
    preprocess_cfg: { mean: [...stats.mean], std: [...stats.std] },
  };
}
