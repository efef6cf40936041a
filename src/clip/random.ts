// A randomly initialised CLIP checkpoint of a real architecture, written to a folder, for tests
// and speed measurements without downloading weights (scripts/make-random-clip.ts is its CLI).
//
// --format hf: model.safetensors (HF CLIPModel names) + config.json. --format openai:
// model.safetensors (OpenAI state-dict names) + open_clip_config.json (which records the head
// counts an OpenAI state dict cannot). The same --seed gives the same model in both formats.
// ResNet CLIPs (--arch RN50, RN101, RN50x4, RN50x16, RN50x64, tiny-rn) exist only in the OpenAI
// format: HF CLIPModel has no ResNet tower.
// Initialisation roughly follows CLIP's: N(0, width^-0.5) projections, 0.02/0.01 embeddings,
// layer norms 1/0, logit_scale ln(1/0.07). One tensor is in memory at a time.

import { join } from "node:path";
import { mulberry32, mulberry32Bits } from "../io/rng.ts";
import { canonicalShapes } from "./layout.ts";
import { CLIP_ARCHS, type ClipArchName, type ClipConfig } from "./config.ts";
import { hfConfigJson, openClipConfigJson } from "./config_json.ts";
import { type CheckpointFormat, invertRecipe, type Recipe, recipesFor } from "./checkpoint.ts";
import { numel, type TensorSpec, writeSafetensors } from "../io/safetensors.ts";
import { writeAtomic } from "../io/files.ts";

export interface MakeOptions {
  arch: ClipArchName;
  format: CheckpointFormat;
  out: string;
  seed?: number;
  dtype?: "f32" | "f16";
  /** Overrides of the architecture's numbers (e.g. a tiny model with CLIP's real vocabulary). */
  config?: Partial<ClipConfig>;
}

export interface MakeResult {
  path: string;
  bytes: number;
  params: number;
  config: ClipConfig;
}

/** FNV-1a of the name, mixed with the seed: each tensor has its own stream. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const poly = (k: readonly number[], x: number) => k.reduce((acc, v) => acc * x + v, 0);
const ACKLAM = {
  a: [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269],
  a2: [-30.66479806614716, 2.506628277459239],
  b: [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972],
  b2: [-13.28068155288572, 1],
  c: [-7.784894002430293e-3, -0.3223964580411365, -2.400758277161838, -2.549732539343734],
  c2: [4.374664141464968, 2.938163982698783],
  d: [7.784695709041462e-3, 0.3224671290700398, 2.445134137142996, 3.754408661907416, 1],
} as const;

/** Acklam's inverse normal CDF (relative error ~1e-9). */
function probit(p: number): number {
  const k = ACKLAM;
  const tail = (q: number) => poly([...k.c, ...k.c2], q) / poly(k.d, q);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5, r = q * q;
  return (poly([...k.a, ...k.a2], r) * q) / poly([...k.b, ...k.b2], r);
}

let quantiles: Float32Array | null = null;
/** N(0, 1) at the 65536 midpoint quantiles: one table lookup per sample (|x| <= 4.4). */
function normalTable(): Float32Array {
  if (quantiles) return quantiles;
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = probit((i + 0.5) / 65536);
  return (quantiles = t);
}

/** Normal samples, two per 32-bit draw (a quantised normal: plenty for a random init). */
function normal(n: number, std: number, seed: number): Float32Array {
  const out = new Float32Array(n), table = normalTable();
  const bits = mulberry32Bits(seed);
  for (let i = 0; i < n; i += 2) {
    const t = bits();
    out[i] = std * table[t & 0xffff];
    if (i + 1 < n) out[i + 1] = std * table[(t >>> 16) & 0xffff];
  }
  return out;
}

function uniform(n: number, bound: number, seed: number): Float32Array {
  const out = new Float32Array(n), u = mulberry32(seed);
  for (let i = 0; i < n; i++) out[i] = bound * (2 * u() - 1);
  return out;
}

/**
 * A ResNet tower's tensors: He-normal convolutions, batch norms with identity statistics (mean
 * 0, variance 1, weight 1, bias 0) except each block's bn3 weight at 0.25 (upstream zeroes it;
 * a small value keeps the random residual branches alive without letting 16+ residual sums
 * blow up), attention-pool projections N(0, width^-0.5) as upstream, nn.Linear biases.
 */
function initResNet(name: string, shape: number[], c: ClipConfig, seed: number): Float32Array {
  const n = numel(shape), s = tensorSeed(seed, name);
  const E = 32 * c.visionWidth;
  if (name.endsWith(".running_mean") || (name.endsWith(".bias") && !name.includes("attnpool"))) {
    return new Float32Array(n);
  }
  if (name.endsWith(".running_var")) return new Float32Array(n).fill(1);
  if (/\.layer\d+\.\d+\.bn3\.weight$/.test(name)) return new Float32Array(n).fill(0.25);
  if (name.endsWith(".weight") && shape.length === 1) return new Float32Array(n).fill(1);
  if (shape.length === 4) return normal(n, Math.sqrt(2 / (shape[1] * shape[2] * shape[3])), s);
  if (name.endsWith("_proj.bias")) return uniform(n, E ** -0.5, s);
  return normal(n, E ** -0.5, s); // positional embedding, q/k/v/c projections
}

/** A canonical tensor's random initial value. */
function initTensor(name: string, shape: number[], c: ClipConfig, seed: number): Float32Array {
  const n = numel(shape), s = tensorSeed(seed, name);
  if (name === "logit_scale") return Float32Array.of(Math.log(1 / 0.07));
  if (c.visionKind === "resnet" && name.startsWith("visual.")) {
    return initResNet(name, shape, c, seed);
  }
  if (/(^|\.)ln_[a-z0-9]+\.weight$/.test(name)) return new Float32Array(n).fill(1);
  if (/(^|\.)ln_[a-z0-9]+\.bias$/.test(name) || /attn\.(in_proj_bias|out_proj\.bias)$/.test(name)) {
    return new Float32Array(n);
  }
  const vision = name.startsWith("visual.");
  const w = vision ? c.visionWidth : c.transformerWidth;
  const layers = vision ? c.visionLayers : c.transformerLayers;
  const projStd = w ** -0.5 * (2 * layers) ** -0.5;
  if (name === "visual.conv1.weight") return normal(n, (3 * c.visionPatchSize ** 2) ** -0.5, s);
  if (name === "token_embedding.weight") return normal(n, 0.02, s);
  if (name === "positional_embedding") return normal(n, 0.01, s);
  if (name.endsWith("attn.in_proj_weight")) return normal(n, w ** -0.5, s);
  if (name.endsWith("attn.out_proj.weight") || name.endsWith("mlp.c_proj.weight")) {
    return normal(n, projStd, s);
  }
  if (name.endsWith("mlp.c_fc.weight")) return normal(n, (2 * w) ** -0.5, s);
  if (name.endsWith("mlp.c_fc.bias")) return uniform(n, w ** -0.5, s); // nn.Linear's default
  if (name.endsWith("mlp.c_proj.bias")) return uniform(n, (4 * w) ** -0.5, s);
  return normal(n, w ** -0.5, s); // class/positional embeddings, visual.proj, text_projection
}

/** Writes the checkpoint files into `out` (created if needed). */
export async function makeRandomClip(o: MakeOptions): Promise<MakeResult> {
  const base = CLIP_ARCHS[o.arch];
  const config = base && { ...base, ...o.config };
  if (!config) {
    throw new Error(
      `--arch ${o.arch}: unknown; expected one of ${Object.keys(CLIP_ARCHS).join(", ")}`,
    );
  }
  if (o.format !== "hf" && o.format !== "openai") {
    throw new Error(`--format ${o.format}: unknown; expected hf or openai`);
  }
  const dtype = o.dtype ?? "f32";
  if (dtype !== "f32" && dtype !== "f16") throw new Error(`--dtype ${dtype}: expected f32 or f16`);
  const seed = o.seed ?? 0;
  await Deno.mkdir(o.out, { recursive: true });

  // HF splits in_proj into q/k/v, which the writer reaches in name order: keep a few canonical
  // tensors so that each is generated once.
  const cache = new Map<string, Float32Array>();
  const canonical = (r: Recipe) => {
    let v = cache.get(r.target);
    if (!v) {
      v = initTensor(r.target, r.shape, config, seed);
      cache.set(r.target, v);
      if (cache.size > 4) cache.delete(cache.keys().next().value!);
    }
    return v;
  };
  const specs: Record<string, TensorSpec> = {};
  for (const r of recipesFor(o.format, config)) {
    r.sources.forEach((s, k) => {
      specs[s.name] = {
        dtype: dtype === "f16" ? "F16" : "F32",
        shape: s.shape,
        data: () => invertRecipe(r, k, canonical(r)),
      };
    });
  }
  const path = join(o.out, "model.safetensors");
  const bytes = await writeSafetensors(path, specs, { format: "pt" });
  const [name, json] = o.format === "hf"
    ? ["config.json", hfConfigJson(config, dtype === "f16" ? "float16" : "float32")]
    : ["open_clip_config.json", openClipConfigJson(config)];
  await writeAtomic(join(o.out, name), JSON.stringify(json, null, 2) + "\n");
  let params = 0;
  for (const s of canonicalShapes(config).values()) params += numel(s);
  return { path, bytes, params, config };
}
