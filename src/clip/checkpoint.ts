// CLIP checkpoints (safetensors) → host Float32Arrays under OpenAI's state-dict names and
// layouts (config.ts `canonicalShapes`), the contract src/clip/model.ts relies on.
//
// Layouts: OpenAI / open_clip state dicts (`visual.*`, `transformer.*`; a `module.` prefix is
// stripped; config from open_clip_config.json if present, else inferred from shapes as
// openai/CLIP build_model does; ViT or ModifiedResNet image towers, the latter with batch-norm
// weights and running statistics, num_batches_tracked ignored), and Hugging Face CLIPModel (`vision_model.*`, `text_model.*`;
// config.json; one file or shards listed in model.safetensors.index.json). F16 and BF16 widen.

import { dirname, isAbsolute, join, normalize } from "node:path";
import { canonicalShapes } from "./layout.ts";
import { type ClipConfig, validateConfig } from "./config.ts";
import { configFromHf, configFromOpenClip } from "./config_json.ts";
import { inferOpenAIConfig } from "./config_infer.ts";
import { numel, readSafetensors, type SafeTensor, toFloat32 } from "../io/safetensors.ts";

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export type CheckpointFormat = "hf" | "openai";

export interface ClipWeights {
  config: ClipConfig;
  /** Canonical names (OpenAI's), canonical layouts, f32 (views into the file where possible). */
  tensors: Map<string, HostTensor>;
  format: CheckpointFormat;
  /** Tensors the checkpoint has but CLIP does not use (ignored), one line each. */
  warnings: string[];
  /** The weight files read. */
  files: string[];
}

export interface LoadOptions {
  /**
   * Overrides for the config. An OpenAI state dict does not record head counts: build_model's
   * width / 64 is right for the released models, and this sets them for others.
   */
  config?: Partial<ClipConfig>;
  /** Keep f16-pair copies of f16-exact linear weights (default true; see Clip.fromWeights). */
  halfWeights?: boolean;
}

/** How one canonical tensor is made from checkpoint tensors. */
export interface Recipe {
  target: string;
  shape: number[];
  /** copy; concat (sources stacked along axis 0); transpose (one 2-D source). */
  op: "copy" | "concat" | "transpose";
  sources: { name: string; shape: number[] }[];
}

/** Buffers a layout stores that CLIP does not use: skipped without a warning. */
const KNOWN_EXTRAS: Record<CheckpointFormat, Set<string>> = {
  hf: new Set(["vision_model.embeddings.position_ids", "text_model.embeddings.position_ids"]),
  openai: new Set(["input_resolution", "context_length", "vocab_size"]),
};

/** Also skipped: batch norms' step counters (PyTorch buffers; eval mode never reads them). */
function isKnownExtra(format: CheckpointFormat, name: string): boolean {
  return KNOWN_EXTRAS[format].has(name) ||
    (format === "openai" && /^visual\..+\.num_batches_tracked$/.test(name));
}

// ---- name and layout mapping ---------------------------------------------------------------

export function openaiRecipes(c: ClipConfig): Recipe[] {
  return [...canonicalShapes(c)].map(([target, shape]) => ({
    target,
    shape,
    op: "copy",
    sources: [{ name: target, shape }],
  }));
}

const HF_FIXED: Record<string, string> = {
  "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
  "visual.class_embedding": "vision_model.embeddings.class_embedding",
  "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
  "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
  "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
  "visual.ln_post.weight": "vision_model.post_layernorm.weight",
  "visual.ln_post.bias": "vision_model.post_layernorm.bias",
  "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
  "positional_embedding": "text_model.embeddings.position_embedding.weight",
  "ln_final.weight": "text_model.final_layer_norm.weight",
  "ln_final.bias": "text_model.final_layer_norm.bias",
  "logit_scale": "logit_scale",
};
const HF_TRANSPOSED: Record<string, string> = {
  "visual.proj": "visual_projection.weight",
  "text_projection": "text_projection.weight",
};
const HF_BLOCK: [string, string][] = [
  ["attn.out_proj.", "self_attn.out_proj."],
  ["ln_1.", "layer_norm1."],
  ["ln_2.", "layer_norm2."],
  ["mlp.c_fc.", "mlp.fc1."],
  ["mlp.c_proj.", "mlp.fc2."],
];

/** HF CLIPModel sources of each canonical tensor. */
export function hfRecipes(c: ClipConfig): Recipe[] {
  if (c.visionKind === "resnet") {
    throw new Error(
      "Hugging Face CLIPModel has no ResNet image tower; ResNet CLIPs load from (and are " +
        "written as) OpenAI/open_clip state dicts",
    );
  }
  return [...canonicalShapes(c)].map(([target, shape]): Recipe => {
    if (HF_FIXED[target]) {
      return { target, shape, op: "copy", sources: [{ name: HF_FIXED[target], shape }] };
    }
    if (HF_TRANSPOSED[target]) {
      const src = { name: HF_TRANSPOSED[target], shape: [shape[1], shape[0]] };
      return { target, shape, op: "transpose", sources: [src] };
    }
    const m = /^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$/.exec(target);
    if (!m) throw new Error(`hfRecipes: no HF name for ${target}`);
    const base = `${m[1] ? "vision_model" : "text_model"}.encoder.layers.${m[2]}.`;
    const rest = m[3];
    const qkv = /^attn\.in_proj_(weight|bias)$/.exec(rest);
    if (qkv) {
      const part = [shape[0] / 3, ...shape.slice(1)];
      const sources = ["q", "k", "v"].map((p) => ({
        name: `${base}self_attn.${p}_proj.${qkv[1]}`,
        shape: part,
      }));
      return { target, shape, op: "concat", sources };
    }
    const hit = HF_BLOCK.find(([o]) => rest.startsWith(o));
    if (!hit) throw new Error(`hfRecipes: no HF name for ${target}`);
    const name = base + hit[1] + rest.slice(hit[0].length);
    return { target, shape, op: "copy", sources: [{ name, shape }] };
  });
}

export function recipesFor(format: CheckpointFormat, c: ClipConfig): Recipe[] {
  return format === "hf" ? hfRecipes(c) : openaiRecipes(c);
}

function transpose2d(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  }
  return out;
}

/** The canonical tensor from its sources' data (in `r.sources` order). */
export function applyRecipe(r: Recipe, data: Float32Array[]): Float32Array {
  if (r.op === "copy") return data[0];
  if (r.op === "transpose") return transpose2d(data[0], r.sources[0].shape[0], r.shape[0]);
  const out = new Float32Array(numel(r.shape));
  let at = 0;
  for (const d of data) {
    out.set(d, at);
    at += d.length;
  }
  return out;
}

/** Source `k` of a recipe from the canonical tensor (the inverse of applyRecipe). */
export function invertRecipe(r: Recipe, k: number, canonical: Float32Array): Float32Array {
  if (r.op === "copy") return canonical;
  if (r.op === "transpose") return transpose2d(canonical, r.shape[0], r.shape[1]);
  const len = numel(r.sources[k].shape);
  return canonical.subarray(k * len, (k + 1) * len);
}

// ---- files ---------------------------------------------------------------------------------

interface Located {
  dir: string;
  /** A single weights file, or an index listing shards. */
  file?: string;
  index?: string;
}

const INDEX = "model.safetensors.index.json";

async function locate(path: string): Promise<Located> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new Error(
      `${path}: cannot open (${e instanceof Error ? e.message : e}); expected a CLIP checkpoint ` +
        `directory or a .safetensors file`,
      { cause: e },
    );
  }
  if (info.isFile) {
    return path.endsWith(".json")
      ? { dir: dirname(path), index: path }
      : { dir: dirname(path), file: path };
  }
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) if (e.isFile) names.push(e.name);
  names.sort();
  if (names.includes(INDEX)) return { dir: path, index: join(path, INDEX) };
  if (names.includes("model.safetensors")) {
    return { dir: path, file: join(path, "model.safetensors") };
  }
  const st = names.filter((n) => n.endsWith(".safetensors"));
  if (st.length === 1) return { dir: path, file: join(path, st[0]) };
  throw new Error(
    st.length === 0
      ? `${path}: no .safetensors weights (found: ${names.join(", ") || "nothing"}); expected ` +
        `model.safetensors, ${INDEX} with shards, or one .safetensors file (PyTorch .bin/.pt ` +
        `checkpoints are not read)`
      : `${path}: ${st.length} .safetensors files (${
        st.join(", ")
      }); expected model.safetensors, ` +
        `${INDEX}, or exactly one; pass the file's path`,
  );
}

interface Entry {
  t: SafeTensor;
  file: string;
}

async function readWeights(
  loc: Located,
): Promise<{ entries: Map<string, Entry>; files: string[] }> {
  const entries = new Map<string, Entry>();
  const add = (name: string, t: SafeTensor, file: string) => {
    const prev = entries.get(name);
    if (prev) {
      throw new Error(`tensor "${name}" is in both ${prev.file} and ${file}; expected it once`);
    }
    entries.set(name, { t, file });
  };
  if (loc.file) {
    const st = await readSafetensors(loc.file);
    for (const [n, t] of st.tensors) add(n, t, loc.file);
    return { entries, files: [loc.file] };
  }
  const index = loc.index!;
  let weightMap: Record<string, unknown>;
  try {
    const json = JSON.parse(await Deno.readTextFile(index));
    weightMap = json?.weight_map;
    if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
      throw new Error("no weight_map object");
    }
  } catch (e) {
    throw new Error(
      `${index}: not a safetensors index (${e instanceof Error ? e.message : e}); expected ` +
        `{"weight_map": {tensor: shard file}}`,
      { cause: e },
    );
  }
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || isAbsolute(shard) || normalize(shard).startsWith("..")) {
      throw new Error(
        `${index}: tensor "${name}" maps to ${JSON.stringify(shard)}; expected a shard file ` +
          `name inside ${loc.dir}`,
      );
    }
    shards.set(shard, [...(shards.get(shard) ?? []), name]);
  }
  const files: string[] = [];
  for (const [shard, names] of shards) {
    const file = join(loc.dir, shard);
    const st = await readSafetensors(file);
    const absent = names.filter((n) => !st.tensors.has(n));
    if (absent.length) {
      throw new Error(
        `${file}: lacks ${absent.map((n) => `"${n}"`).join(", ")}, which ${index} places there`,
      );
    }
    for (const [n, t] of st.tensors) add(n, t, file);
    files.push(file);
  }
  return { entries, files };
}

// ---- loading -------------------------------------------------------------------------------

const fmt = (s: readonly number[]) => `[${s.join(", ")}]`;

async function readJson(path: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${e instanceof Error ? e.message : e})`, {
      cause: e,
    });
  }
}

function shapeMatches(want: number[], got: number[]): boolean {
  if (want.length === 0) return got.length === 0 || (got.length === 1 && got[0] === 1);
  return want.length === got.length && want.every((d, i) => d === got[i]);
}

/**
 * Loads a CLIP checkpoint (a directory or a file) into canonical OpenAI-named f32 tensors.
 * Every missing or mis-shaped tensor is reported in one error; unused tensors become warnings.
 */
export async function loadClipWeights(path: string, opts: LoadOptions = {}): Promise<ClipWeights> {
  const loc = await locate(path);
  const read = await readWeights(loc);
  const label = read.files.length === 1
    ? read.files[0]
    : `${loc.index} (${read.files.length} shards)`;
  const entries = new Map<string, Entry>();
  for (const [name, e] of read.entries) {
    const key = name.startsWith("module.") ? name.slice(7) : name;
    if (entries.has(key)) {
      throw new Error(`${label}: tensors "${key}" and "module.${key}" both present; expected one`);
    }
    entries.set(key, e);
  }
  const names = [...entries.keys()];
  const isHf = names.some((n) => n.startsWith("vision_model.") || n.startsWith("text_model."));
  const isOpenai = names.some((n) => /^(visual|transformer)\./.test(n) || n === "ln_final.weight");
  if (isHf === isOpenai) {
    throw new Error(
      `${label}: ${
        isHf ? "mixes HF (vision_model.*) and OpenAI (visual.*) names" : "has no CLIP tensors"
      }` +
        ` (first: ${names.slice(0, 4).join(", ") || "none"}); expected an OpenAI/open_clip state ` +
        `dict (visual.*, transformer.*) or an HF CLIPModel (vision_model.*, text_model.*)`,
    );
  }
  const format: CheckpointFormat = isHf ? "hf" : "openai";

  let config: ClipConfig, configSource: string;
  if (format === "hf") {
    configSource = join(loc.dir, "config.json");
    const json = await readJson(configSource);
    if (json === undefined) {
      throw new Error(
        `${label}: HF CLIPModel weights need ${configSource} beside them; it is absent`,
      );
    }
    config = configFromHf(json, configSource);
  } else {
    const oc = join(loc.dir, "open_clip_config.json");
    const json = await readJson(oc);
    configSource = json === undefined ? `${label} (shapes, as openai/CLIP build_model infers)` : oc;
    const shapes = new Map(names.map((n) => [n, entries.get(n)!.t.shape]));
    config = json === undefined ? inferOpenAIConfig(shapes, label) : configFromOpenClip(json, oc);
  }
  if (opts.config) {
    configSource += " with options.config";
    config = validateConfig({ ...config, ...opts.config }, configSource);
  }

  const recipes = recipesFor(format, config);
  const problems: string[] = [];
  const used = new Set<string>();
  for (const r of recipes) {
    for (const s of r.sources) {
      used.add(s.name);
      const e = entries.get(s.name);
      if (!e) problems.push(`missing ${s.name} ${fmt(s.shape)}`);
      else if (!shapeMatches(s.shape, e.t.shape)) {
        problems.push(`mis-shaped ${s.name}: expected ${fmt(s.shape)}, got ${fmt(e.t.shape)}`);
      } else if (!["F32", "F16", "BF16", "F64"].includes(e.t.dtype)) {
        problems.push(`wrong dtype ${s.name}: ${e.t.dtype}, expected F32, F16, BF16 or F64`);
      }
    }
  }
  if (problems.length) {
    const c = config;
    const vision = c.visionKind === "resnet"
      ? `image ${c.imageResolution}, vision ResNet [${c.visionResLayers}]×${c.visionWidth}`
      : `image ${c.imageResolution}/${c.visionPatchSize}, vision ${c.visionLayers}×${c.visionWidth}`;
    throw new Error(
      `${label}: ${format} CLIP checkpoint does not match its config (from ${configSource}: ` +
        `embed ${c.embedDim}, ${vision}, text ${c.transformerLayers}×${c.transformerWidth}, ` +
        `context ${c.contextLength}, vocab ${c.vocabSize}); ${problems.length} problem` +
        `${problems.length > 1 ? "s" : ""}:\n  ${problems.join("\n  ")}`,
    );
  }

  const warnings: string[] = [];
  for (const [n, e] of entries) {
    if (!used.has(n) && !isKnownExtra(format, n)) {
      warnings.push(`${e.file}: unexpected tensor "${n}" ${fmt(e.t.shape)} ignored`);
    }
  }
  const tensors = new Map<string, HostTensor>();
  for (const r of recipes) {
    const data = r.sources.map((s) => toFloat32(entries.get(s.name)!.t, `${label}: ${s.name}`));
    tensors.set(r.target, { shape: r.shape, data: applyRecipe(r, data) });
  }
  return { config, tensors, format, warnings, files: read.files };
}
