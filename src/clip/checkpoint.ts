// CLIP checkpoints (safetensors) → host Float32Arrays under OpenAI's state-dict names and
// layouts (config.ts `canonicalShapes`), the contract src/clip/model.ts relies on.
//
// Layouts: OpenAI / open_clip state dicts (`visual.*`, `transformer.*`; a `module.` prefix is
// stripped; config from open_clip_config.json if present, else inferred from shapes as
// openai/CLIP build_model does; ViT or ModifiedResNet image towers, the latter with batch-norm
// weights and running statistics, num_batches_tracked ignored), and Hugging Face CLIPModel (`vision_model.*`, `text_model.*`;
// config.json; one file or shards listed in model.safetensors.index.json). F16 and BF16 widen.
// The pixels' mean/std: options.pixelStats, else the checkpoint's own (preprocessor_config.json,
// open_clip_config.json's preprocess_cfg: see readPixelStats), else CLIP's.

import { dirname, isAbsolute, join, normalize } from "node:path";
import { canonicalShapes } from "./layout.ts";
import { type ClipConfig, validateConfig } from "./config.ts";
import { configFromHf, configFromOpenClip } from "./config_json.ts";
import { inferOpenAIConfig } from "./config_infer.ts";
import {
  checkPixelStats,
  CLIP_PIXEL_STATS,
  type PixelStats,
  pixelStatsFromHfProcessor,
  pixelStatsFromOpenClip,
  samePixelStats,
} from "./pixel_stats.ts";
import { numel, readSafetensors, type SafeTensor, toFloat32 } from "../io/safetensors.ts";
import { clip, InputFileError, listSome, parseJsonStrict, preview } from "../io/strict.ts";

/** A tensor on the host: its shape and its f32 values, row-major. */
export interface HostTensor {
  /** Dimensions, outermost first. */
  shape: number[];
  /** The values, row-major. */
  data: Float32Array;
}

/** A checkpoint's layout: Hugging Face CLIPModel names, or OpenAI/open_clip state-dict names. */
export type CheckpointFormat = "hf" | "openai";

/** A checkpoint read into canonical tensors, with its config and what the loader noticed. */
export interface ClipWeights {
  /** The architecture, from config.json / open_clip's config or inferred from the shapes. */
  config: ClipConfig;
  /** Canonical names (OpenAI's), canonical layouts, f32 (views into the file where possible). */
  tensors: Map<string, HostTensor>;
  /** The layout the checkpoint came in. */
  format: CheckpointFormat;
  /**
   * The mean/std its pixels are normalised with: options.pixelStats, else the checkpoint's
   * own (preprocessor_config.json, open_clip_config.json's preprocess_cfg), else CLIP's.
   */
  pixelStats: PixelStats;
  /**
   * What the loader noticed, one line each: tensors the checkpoint has but CLIP does not use
   * (ignored), preprocessing settings Antidote does not follow (a resize other than openai/CLIP's).
   */
  warnings: string[];
  /** The weight files read. */
  files: string[];
}

/** How loadClipWeights / loadClip read a checkpoint. */
export interface LoadOptions {
  /**
   * Overrides for the config. An OpenAI state dict does not record head counts: build_model's
   * width / 64 is right for the released models, and this sets them for others.
   */
  config?: Partial<ClipConfig>;
  /** Keep f16-pair copies of f16-exact linear weights (default true; see Clip.fromWeights). */
  halfWeights?: boolean;
  /**
   * The mean/std to normalise pixels with, in place of the checkpoint's own (whose files are
   * then not read for them); `source` defaults to "options.pixelStats".
   */
  pixelStats?: Omit<PixelStats, "source"> & { source?: string };
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
    throw new InputFileError(
      path,
      `cannot open (${e instanceof Error ? e.message : e}); expected a CLIP checkpoint ` +
        `directory or a .safetensors file`,
      { cause: e },
    );
  }
  if (info.isFile) {
    return path.endsWith(".json")
      ? { dir: dirname(path), index: path }
      : { dir: dirname(path), file: path };
  }
  const names = await fileNames(path);
  if (names.includes(INDEX)) return { dir: path, index: join(path, INDEX) };
  if (names.includes("model.safetensors")) {
    return { dir: path, file: join(path, "model.safetensors") };
  }
  const st = names.filter((n) => n.endsWith(".safetensors"));
  if (st.length === 1) return { dir: path, file: join(path, st[0]) };
  throw new InputFileError(
    path,
    st.length === 0
      ? `no .safetensors weights (found: ${listSome(names) || "nothing"}); expected ` +
        `model.safetensors, ${INDEX} with shards, or one .safetensors file (PyTorch .bin/.pt ` +
        `checkpoints are not read)`
      : `${st.length} .safetensors files (${listSome(st)}); expected model.safetensors, ` +
        `${INDEX}, or exactly one; pass the file's path`,
  );
}

/**
 * Sorted names of the files in a folder, symbolic links to files included (the HF hub's cache
 * links each file of a snapshot to a blob).
 */
async function fileNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile) names.push(e.name);
    else if (e.isSymlink) {
      const target = await Deno.stat(join(dir, e.name)).catch(() => null);
      if (target?.isFile) names.push(e.name);
    }
  }
  return names.sort();
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
      throw new InputFileError(
        file,
        `tensor ${preview(name)} is in both ${prev.file} and ${file}; expected it once`,
      );
    }
    entries.set(name, { t, file });
  };
  if (loc.file) {
    const st = await readSafetensors(loc.file);
    for (const [n, t] of st.tensors) add(n, t, loc.file);
    return { entries, files: [loc.file] };
  }
  const index = loc.index!;
  const json = await readJson(index);
  const weightMap = (json as Record<string, unknown> | undefined)?.weight_map;
  if (!isObject(weightMap)) {
    throw new InputFileError(
      index,
      `not a safetensors index (no weight_map object); expected ` +
        `{"weight_map": {tensor: shard file}}`,
    );
  }
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (!isShardName(shard)) {
      throw new InputFileError(
        index,
        `tensor ${preview(name)} maps to ${preview(shard)}; expected a shard file name ` +
          `inside ${loc.dir}`,
      );
    }
    const list = shards.get(shard);
    if (list) list.push(name);
    else shards.set(shard, [name]);
  }
  const files: string[] = [];
  for (const [shard, names] of shards) {
    const file = join(loc.dir, shard);
    const st = await readSafetensors(file);
    const absent = names.filter((n) => !st.tensors.has(n));
    if (absent.length) {
      throw new InputFileError(
        file,
        `lacks ${listSome(absent.map((n) => preview(n)))}, which ${index} places there`,
      );
    }
    for (const [n, t] of st.tensors) add(n, t, file);
    files.push(file);
  }
  return { entries, files };
}

// ---- loading -------------------------------------------------------------------------------

/** "[2, 3]"; long shapes (a hostile file's) show their first 8 dimensions. */
const fmt = (s: readonly number[]) =>
  s.length <= 8 ? `[${s.join(", ")}]` : `[${s.slice(0, 8).join(", ")}, … (${s.length} dims)]`;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A shard named in an index: a relative path inside the checkpoint's folder. */
const isShardName = (v: unknown): v is string =>
  typeof v === "string" && v.length > 0 && v.length <= 4096 && !isAbsolute(v) &&
  !normalize(v).startsWith("..");

/**
 * A JSON sidecar (config.json, open_clip_config.json, preprocessor_config.json, the shard
 * index), or undefined when absent. Strict: UTF-8, and no key twice (Python's json keeps the
 * last of a duplicated key, other readers the first: which one the author meant is unknowable,
 * so it is refused).
 */
async function readJson(path: string): Promise<unknown | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new InputFileError(path, `cannot read (${e instanceof Error ? e.message : e})`, {
      cause: e,
    });
  }
  try {
    return parseJsonStrict(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new InputFileError(path, `not valid JSON (${e instanceof Error ? e.message : e})`, {
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
 * Every missing or mis-shaped tensor is reported in one error (the first few listed, the rest
 * counted); unused tensors become warnings. Work and messages are bounded by the files' sizes:
 * the config's layer counts are checked against the blocks the weights have before the tensors
 * the config implies are listed.
 */
export async function loadClipWeights(path: string, opts: LoadOptions = {}): Promise<ClipWeights> {
  const loc = await locate(path);
  const read = await readWeights(loc);
  const label = read.files.length === 1
    ? read.files[0]
    : `${loc.index} (${read.files.length} shards)`;
  const entries = stripModulePrefix(read.entries, label);
  const names = [...entries.keys()];
  const format = detectFormat(names, label);
  let { config, source, fields } = await readConfig(format, loc.dir, label, entries);
  if (opts.config) {
    source += " with options.config";
    config = validateConfig({ ...config, ...opts.config }, source);
    fields = Object.fromEntries(Object.entries(fields).filter(([k]) => !(k in opts.config!)));
  }
  checkLayersFit(config, format, names, source, fields);

  const recipes = recipesFor(format, config);
  const used = new Set(recipes.flatMap((r) => r.sources.map((s) => s.name)));
  const problems = recipeProblems(recipes, entries);
  if (problems.length) throw mismatchError(label, format, config, source, problems);

  const warnings: string[] = [];
  for (const [n, e] of entries) {
    if (!used.has(n) && !isKnownExtra(format, n)) {
      warnings.push(`${e.file}: unexpected tensor ${preview(n)} ${fmt(e.t.shape)} ignored`);
    }
  }
  const pixelStats = opts.pixelStats
    ? checkPixelStats({ source: "options.pixelStats", ...opts.pixelStats }, "options.pixelStats")
    : await readPixelStats(format, loc.dir, config.imageResolution, warnings);
  const tensors = new Map<string, HostTensor>();
  for (const r of recipes) {
    const data = r.sources.map((s) => toFloat32(entries.get(s.name)!.t, `${label}: ${s.name}`));
    tensors.set(r.target, { shape: r.shape, data: applyRecipe(r, data) });
  }
  return { config, tensors, format, pixelStats, warnings, files: read.files };
}

/**
 * The checkpoint's own mean/std: Hugging Face's preprocessor_config.json and open_clip's
 * preprocess_cfg (open_clip_config.json) beside the weights, the format's own first (the two
 * must agree where both say), else CLIP's. Either must declare the model's image size, if any.
 */
async function readPixelStats(
  format: CheckpointFormat,
  dir: string,
  imageResolution: number,
  warnings: string[],
): Promise<PixelStats> {
  const warn = (line: string) => warnings.push(line);
  const hfPath = join(dir, "preprocessor_config.json");
  const ocPath = join(dir, "open_clip_config.json");
  const hfJson = await readJson(hfPath), ocJson = await readJson(ocPath);
  const hf = hfJson === undefined
    ? undefined
    : pixelStatsFromHfProcessor(hfJson, hfPath, imageResolution, warn);
  const oc = ocJson === undefined
    ? undefined
    : pixelStatsFromOpenClip(ocJson, ocPath, imageResolution, warn);
  if (hf && oc && !samePixelStats(hf, oc)) {
    const say = (s: PixelStats) => `mean [${s.mean.join(", ")}], std [${s.std.join(", ")}]`;
    throw new InputFileError(
      hfPath,
      `${say(hf)} differ from ${oc.source}'s ${say(oc)}; expected one normalisation (which ` +
        `the model was trained with cannot be told)`,
    );
  }
  return (format === "hf" ? hf ?? oc : oc ?? hf) ?? CLIP_PIXEL_STATS;
}

/** The entries under their names without DDP's `module.` prefix. */
function stripModulePrefix(read: Map<string, Entry>, label: string): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  for (const [name, e] of read) {
    const key = name.startsWith("module.") ? name.slice(7) : name;
    if (entries.has(key)) {
      throw new InputFileError(
        label,
        `tensors ${preview(key)} and ${preview(`module.${key}`)} both present; expected one`,
      );
    }
    entries.set(key, e);
  }
  return entries;
}

function detectFormat(names: string[], label: string): CheckpointFormat {
  const isHf = names.some((n) => n.startsWith("vision_model.") || n.startsWith("text_model."));
  const isOpenai = names.some((n) => /^(visual|transformer)\./.test(n) || n === "ln_final.weight");
  if (isHf === isOpenai) {
    throw new InputFileError(
      label,
      `${
        isHf ? "mixes HF (vision_model.*) and OpenAI (visual.*) names" : "has no CLIP tensors"
      } (first: ${names.slice(0, 4).map((n) => clip(n)).join(", ") || "none"}); expected an ` +
        `OpenAI/open_clip state dict (visual.*, transformer.*) or an HF CLIPModel ` +
        `(vision_model.*, text_model.*)`,
    );
  }
  return isHf ? "hf" : "openai";
}

/** How a config source spells the layer counts (for messages; ClipConfig's names otherwise). */
type FieldNames = Partial<Record<LayerField, string>>;

const HF_FIELDS: FieldNames = {
  visionLayers: "vision_config.num_hidden_layers",
  transformerLayers: "text_config.num_hidden_layers",
};
const OPEN_CLIP_FIELDS: FieldNames = {
  visionLayers: "vision_cfg.layers",
  visionResLayers: "vision_cfg.layers",
  transformerLayers: "text_cfg.layers",
};

/** The config from config.json (HF), open_clip_config.json, or the shapes (build_model). */
async function readConfig(
  format: CheckpointFormat,
  dir: string,
  label: string,
  entries: Map<string, Entry>,
): Promise<{ config: ClipConfig; source: string; fields: FieldNames }> {
  if (format === "hf") {
    const source = join(dir, "config.json");
    const json = await readJson(source);
    if (json === undefined) {
      throw new InputFileError(
        label,
        `HF CLIPModel weights need ${source} beside them; it is absent`,
      );
    }
    return { config: configFromHf(json, source), source, fields: HF_FIELDS };
  }
  const oc = join(dir, "open_clip_config.json");
  const json = await readJson(oc);
  if (json !== undefined) {
    return { config: configFromOpenClip(json, oc), source: oc, fields: OPEN_CLIP_FIELDS };
  }
  const shapes = new Map([...entries].map(([n, e]) => [n, e.t.shape]));
  const source = `${label} (shapes, as openai/CLIP build_model infers)`;
  return { config: inferOpenAIConfig(shapes, label), source, fields: {} };
}

// ---- the config against the weights --------------------------------------------------------

/** The blocks of each tower, by format: `prefix<i>.…` is block i. */
const BLOCKS: Record<CheckpointFormat, { vision: string; text: string }> = {
  hf: { vision: "vision_model.encoder.layers.", text: "text_model.encoder.layers." },
  openai: { vision: "visual.transformer.resblocks.", text: "transformer.resblocks." },
};

type LayerField = "visionLayers" | "transformerLayers" | "visionResLayers";

/** The distinct block indices `i` of names `prefix<i>.…`. */
function blockIndices(names: readonly string[], prefix: string): number[] {
  const ids = new Set<number>();
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const m = /^(\d{1,15})\./.exec(n.slice(prefix.length, prefix.length + 17));
    if (m) ids.add(Number(m[1]));
  }
  return [...ids].sort((a, b) => a - b);
}

/**
 * Every layer needs tensors of its own, so a config cannot ask for more layers than the
 * weights have blocks: checked before the config's tensors are listed, which would otherwise
 * take time and memory in the layer count (9e15 layers: minutes, then a RangeError).
 */
function checkLayersFit(
  c: ClipConfig,
  format: CheckpointFormat,
  names: readonly string[],
  source: string,
  fields: FieldNames,
): void {
  const check = (field: LayerField, want: number, prefix: string, what: string) => {
    const ids = blockIndices(names, prefix);
    if (want <= ids.length) return;
    throw new InputFileError(
      source,
      `${fields[field] ?? field}${what} ${want} asks for more layers than the weights ` +
        `have: they hold tensors for ${ids.length} layers (${prefix}${
          listSome(ids.map(String))
        }); expected at most ${ids.length}`,
    );
  };
  if (c.visionKind === "resnet") {
    (c.visionResLayers ?? []).forEach((n, s) =>
      check("visionResLayers", n, `visual.layer${s + 1}.`, `[${s}]`)
    );
  } else check("visionLayers", c.visionLayers, BLOCKS[format].vision, "");
  check("transformerLayers", c.transformerLayers, BLOCKS[format].text, "");
}

/** Missing, mis-shaped and wrongly typed sources, one line each. */
function recipeProblems(recipes: Recipe[], entries: Map<string, Entry>): string[] {
  const problems: string[] = [];
  for (const r of recipes) {
    for (const s of r.sources) {
      const e = entries.get(s.name);
      if (!e) problems.push(`missing ${s.name} ${fmt(s.shape)}`);
      else if (!shapeMatches(s.shape, e.t.shape)) {
        problems.push(`mis-shaped ${s.name}: expected ${fmt(s.shape)}, got ${fmt(e.t.shape)}`);
      } else if (!["F32", "F16", "BF16", "F64"].includes(e.t.dtype)) {
        problems.push(`wrong dtype ${s.name}: ${e.t.dtype}, expected F32, F16, BF16 or F64`);
      }
    }
  }
  return problems;
}

/** The problems in one error: the config in brief, the first 10 problems, a count of the rest. */
function mismatchError(
  label: string,
  format: CheckpointFormat,
  c: ClipConfig,
  source: string,
  problems: string[],
): Error {
  const vision = c.visionKind === "resnet"
    ? `image ${c.imageResolution}, vision ResNet [${c.visionResLayers}]×${c.visionWidth}`
    : `image ${c.imageResolution}/${c.visionPatchSize}, vision ${c.visionLayers}×${c.visionWidth}`;
  const n = problems.length;
  return new InputFileError(
    label,
    `${format} CLIP checkpoint does not match its config (from ${source}: ` +
      `embed ${c.embedDim}, ${vision}, text ${c.transformerLayers}×${c.transformerWidth}, ` +
      `context ${c.contextLength}, vocab ${c.vocabSize}); ${n.toLocaleString("en-US")} ` +
      `problem${n > 1 ? "s" : ""}:\n  ${listSome(problems, 10, "\n  ")}`,
  );
}
