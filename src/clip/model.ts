// OpenAI CLIP (ViT image tower + causal text tower) on the engine, as openai/CLIP clip/model.py
// computes it. Weights arrive in OpenAI's state-dict names and layouts (src/clip/checkpoint.ts
// canonicalises HF checkpoints to them).
//
// Frozen linear layers keep both W [out, in] and Wᵀ [in, out] on the GPU, so the forward
// (x·Wᵀ) and the input gradient (dY·W) are both plain NN matmuls on the register-tiled kernel:
// no transpose per call, and no weight gradient is ever computed for a frozen weight.

import {
  add,
  broadcastTo,
  concat,
  crossEntropy,
  exp,
  gatherRows,
  gelu,
  l2Normalize,
  layerNorm,
  linear,
  matmul,
  mul,
  patchConv,
  permute,
  quickGelu,
  reshape,
  slice,
  slicePermute,
  softmax,
  transpose,
} from "../autograd/ops/index.ts";
import { ConvWeightCache } from "../autograd/ops/conv.ts";
import { type HalfMatrix, matmulBias, matmulHalf, packLinearHalf } from "../autograd/ops/matmul.ts";
import { noGrad, record, Tensor } from "../autograd/tensor.ts";
import { resnetBlocks } from "./layout.ts";
import { checkPixelStats, CLIP_PIXEL_STATS, type PixelStats } from "./pixel_stats.ts";
import { encodeImageResNet } from "./resnet.ts";

/** The architecture numbers a ViT CLIP needs (a subset of ClipConfig in config.ts). */
export interface ClipArch {
  /** Width of the joint image-text embedding. */
  embedDim: number;
  /** Side of the square input images, in pixels. */
  imageResolution: number;
  /** Transformer blocks of the image tower (ResNets: see visionResLayers). */
  visionLayers: number;
  /** Width of the image tower. */
  visionWidth: number;
  /** Side of a ViT patch (ResNets: 32, the tower's total stride). */
  visionPatchSize: number;
  /** Attention heads of the image tower (ResNets: of the attention pool). */
  visionHeads: number;
  /** Tokens of the text context (77 for released CLIPs). */
  contextLength: number;
  /** Tokens of the vocabulary (49,408 for CLIP's BPE). */
  vocabSize: number;
  /** Width of the text tower. */
  transformerWidth: number;
  /** Attention heads of the text tower. */
  transformerHeads: number;
  /** Transformer blocks of the text tower. */
  transformerLayers: number;
  /** The MLPs' activation: OpenAI's x·σ(1.702x), or the exact GELU. */
  activation: "quick_gelu" | "gelu";
  /** The layer norms' ε (default 1e-5). */
  layerNormEps?: number;
  /** "resnet": an OpenAI ModifiedResNet image tower (src/clip/resnet.ts); default "vit". */
  visionKind?: "vit" | "resnet";
  /** ResNet towers: Bottleneck blocks per stage. */
  visionResLayers?: readonly number[];
}

/** A CLIP's weights on the host, as {@link Clip.fromWeights} takes them. */
export interface HostWeights {
  /** The architecture. */
  config: ClipArch;
  /** f32 tensors by OpenAI state-dict name, in OpenAI's layouts. */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  /** The mean/std its pixels are normalised with (default CLIP's). */
  pixelStats?: PixelStats;
}

interface LinearParams {
  name: string;
  w: Tensor; // [out, in]
  wT: Tensor | null; // [in, out], same values (null where `half` serves)
  half: { fwd: HalfMatrix; bwd: HalfMatrix } | null;
  b: Tensor | null;
}

/**
 * Weights that the model uses as nn.Linear ([out, in]) and that the f16-pair kernel can take:
 * x·Wᵀ needs out % 8 == 0 and in % 4 == 0, g·W in % 8 == 0 and out % 4 == 0.
 */
function isLinearWeight(name: string, shape: readonly number[]): boolean {
  if (shape.length !== 2 || !/(\.weight|in_proj_weight)$/.test(name)) return false;
  if (name.startsWith("token_embedding")) return false;
  const [out, inp] = shape;
  return out % 8 === 0 && inp % 8 === 0;
}

interface BlockParams {
  ln1: [Tensor, Tensor];
  inProj: LinearParams;
  outProj: LinearParams;
  ln2: [Tensor, Tensor];
  fc: LinearParams;
  proj: LinearParams;
}

/**
 * OpenAI's CLIP on the GPU (ViT or ResNet image tower, causal text tower), exact to
 * openai/CLIP's model.py. Made by `loadClip` (which opens the GPU) or `Clip.fromWeights` (which
 * needs it open: `await initGpu()`).
 */
export class Clip {
  /** The architecture numbers. */
  readonly config: ClipArch;
  /** Every parameter by its OpenAI state-dict name (frozen unless made trainable). */
  readonly params: Map<string, Tensor> = new Map();
  #linears = new Map<string, LinearParams>();
  /**
   * Frozen linear weights whose values f16 holds exactly (OpenAI's fp16 release), packed as f16
   * pairs in both layouts: Wᵀ for x·Wᵀ and W for the input gradient g·W. Same products, half
   * the loads (see matmulHalf). Dropped for good once the weight is made trainable.
   */
  #halves = new Map<Tensor, { fwd: HalfMatrix; bwd: HalfMatrix }>();
  /** ResNet towers: frozen convolution weights' kernel layouts, made on first use. */
  #convCache = new ConvWeightCache();
  #eps: number;

  private constructor(config: ClipArch) {
    this.config = config;
    this.#eps = config.layerNormEps ?? 1e-5;
  }

  /** Identifies the weights (config + sampled values): prompts tuned on one model refuse others. */
  fingerprint = "";

  /**
   * The mean/std its [0, 1] pixels are normalised with (`encodePixels` and every stage on the
   * GPU; pass it as `stats` to preprocessImage(s) for host-normalised pixels): the checkpoint's
   * own (`loadClip` reads them), else CLIP's. `source` says where they came from.
   */
  pixelStats: PixelStats = CLIP_PIXEL_STATS;

  /**
   * Uploads host weights (OpenAI names and layouts) to the GPU. Linear weights whose values are
   * all f16 values also get f16-pair copies for the faster kernel (same results bit for bit);
   * `halfWeights: false` skips them.
   */
  static fromWeights(w: HostWeights, opts: { halfWeights?: boolean } = {}): Clip {
    const clip = new Clip(w.config);
    clip.fingerprint = fingerprintWeights(w);
    if (w.pixelStats && w.pixelStats !== CLIP_PIXEL_STATS) {
      clip.pixelStats = checkPixelStats(w.pixelStats, "pixelStats");
    }
    for (const [name, t] of w.tensors) {
      const p = Tensor.from(t.data, t.shape).keep();
      clip.params.set(name, p);
      const packed = opts.halfWeights !== false && isLinearWeight(name, t.shape)
        ? packLinearHalf(t.data, t.shape[0], t.shape[1])
        : null;
      if (packed) {
        const { fwd, bwd } = packed;
        clip.#halves.set(p, {
          fwd: { ...fwd, bits: fwd.bits.keep() },
          bwd: { ...bwd, bits: bwd.bits.keep() },
        });
      }
    }
    clip.#checkNames();
    return clip;
  }

  /** How many linear weights take the f16-pair path (0 unless the values are f16-exact). */
  get halfWeights(): number {
    return this.#halves.size;
  }

  #checkNames(): void {
    const c = this.config;
    const need = ["token_embedding.weight", "positional_embedding", "ln_final.weight"];
    need.push("text_projection", "logit_scale");
    if (c.visionKind === "resnet") {
      need.push("visual.conv1.weight", "visual.bn1.running_var", "visual.attnpool.c_proj.weight");
      for (const b of resnetBlocks(c)) need.push(`${b.prefix}.conv3.weight`);
    } else {
      need.push("visual.conv1.weight", "visual.class_embedding", "visual.positional_embedding");
      need.push("visual.ln_pre.weight", "visual.ln_post.weight", "visual.proj");
      for (let i = 0; i < c.visionLayers; i++) {
        need.push(`visual.transformer.resblocks.${i}.ln_1.weight`);
      }
    }
    for (let i = 0; i < c.transformerLayers; i++) {
      need.push(`transformer.resblocks.${i}.ln_1.weight`);
    }
    const missing = need.filter((n) => !this.params.has(n));
    if (missing.length) throw new Error(`CLIP weights are missing: ${missing.join(", ")}`);
  }

  /** A parameter by name, or an error naming it. */
  param(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`CLIP has no parameter ${name}`);
    return t;
  }

  /** Makes parameters trainable (their gradients are then computed); frozen is the default. */
  setTrainable(names: Iterable<string>, on = true): void {
    for (const n of names) {
      const p = this.param(n);
      p.requiresGrad = on;
      // Cached copies would go stale once the weight trains: drop them.
      const half = on ? this.#halves.get(p) : undefined;
      if (half) {
        half.fwd.bits.dispose();
        half.bwd.bits.dispose();
        this.#halves.delete(p);
      }
      for (const [key, l] of this.#linears) {
        if (l.w === p || l.b === p) {
          l.wT?.dispose();
          this.#linears.delete(key);
        }
      }
    }
  }

  /** Frees every GPU tensor of the model. */
  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    for (const l of this.#linears.values()) l.wT?.dispose();
    for (const h of this.#halves.values()) [h.fwd.bits, h.bwd.bits].forEach((t) => t.dispose());
    this.#halves.clear();
    this.#convCache.dispose();
    this.params.clear();
    this.#linears.clear();
  }

  #lin(prefix: string, weightName = `${prefix}.weight`, biasName = `${prefix}.bias`): LinearParams {
    let l = this.#linears.get(prefix);
    if (!l) {
      const w = this.param(weightName);
      const half = this.#halves.get(w) ?? null;
      const wT = half ? null : noGrad(() => transpose(w)).keep();
      l = { name: prefix, w, wT, half, b: this.params.get(biasName) ?? null };
      this.#linears.set(prefix, l);
    }
    return l;
  }

  /** x · Wᵀ + b. Frozen weights take the two-layout fast path; trainable ones the generic op. */
  #linear(x: Tensor, l: LinearParams): Tensor {
    if (l.w.requiresGrad || l.b?.requiresGrad) return linear(x, l.w, l.b ?? undefined);
    // The bias is added as the product is stored (frozen: it needs no gradient).
    const { half, wT } = l, b = l.b ?? undefined;
    const y = half ? matmulHalf(x, half.fwd, b) : matmulBias(x, wT!, b);
    return record(
      y,
      `linear(${l.name})`,
      [x],
      (g) => [half ? matmulHalf(g, half.bwd) : matmul(g, l.w)],
    );
  }

  #block(prefix: string): BlockParams {
    const p = (n: string) => this.param(`${prefix}.${n}`);
    return {
      ln1: [p("ln_1.weight"), p("ln_1.bias")],
      inProj: this.#lin(
        `${prefix}.attn.in_proj`,
        `${prefix}.attn.in_proj_weight`,
        `${prefix}.attn.in_proj_bias`,
      ),
      outProj: this.#lin(`${prefix}.attn.out_proj`),
      ln2: [p("ln_2.weight"), p("ln_2.bias")],
      fc: this.#lin(`${prefix}.mlp.c_fc`),
      proj: this.#lin(`${prefix}.mlp.c_proj`),
    };
  }

  /** Multi-head self-attention as torch.nn.MultiheadAttention computes it. x: [B, T, W]. */
  #attention(x: Tensor, blk: BlockParams, heads: number, causal: boolean): Tensor {
    const [B, T, W] = x.shape;
    const Dh = W / heads;
    const qkv = this.#linear(x, blk.inProj); // [B, T, 3W]
    const packed = reshape(qkv, [B, T, 3, heads, Dh]);
    // q, k or v as [B, H, T, Dh], one copy each from the packed projection.
    const part = (i: number) =>
      reshape(slicePermute(packed, 2, i, i + 1, [2, 0, 3, 1, 4]), [B, heads, T, Dh]);
    const q = mul(part(0), 1 / Math.sqrt(Dh));
    const scores = matmul(q, part(1), { transB: true }); // [B, H, T, T]
    const attn = matmul(softmax(scores, { causal }), part(2)); // [B, H, T, Dh]
    const merged = reshape(permute(attn, [0, 2, 1, 3]), [B, T, W]);
    return this.#linear(merged, blk.outProj);
  }

  #residualBlock(x: Tensor, prefix: string, heads: number, causal: boolean): Tensor {
    const blk = this.#block(prefix);
    const eps = this.#eps;
    const h = add(x, this.#attention(layerNorm(x, ...blk.ln1, eps), blk, heads, causal));
    const act = this.config.activation === "gelu" ? gelu : quickGelu;
    const m = this.#linear(act(this.#linear(layerNorm(h, ...blk.ln2, eps), blk.fc)), blk.proj);
    return add(h, m);
  }

  /** Image features [B, E] (not normalised) from normalised pixels [B, 3, R, R]. */
  encodeImage(pixels: Tensor): Tensor {
    const c = this.config;
    if (c.visionKind === "resnet") {
      const linear = (x: Tensor, prefix: string) => this.#linear(x, this.#lin(prefix));
      const convCache = this.#convCache;
      return encodeImageResNet({ param: (n) => this.param(n), linear, convCache }, c, pixels);
    }
    const R = c.imageResolution;
    if (
      pixels.rank !== 4 || pixels.shape[1] !== 3 || pixels.shape[2] !== R || pixels.shape[3] !== R
    ) {
      throw new Error(`encodeImage: pixels must be [B, 3, ${R}, ${R}], got [${pixels.shape}]`);
    }
    const B = pixels.shape[0], W = c.visionWidth;
    const patches = patchConv(pixels, this.param("visual.conv1.weight")); // [B, L, W]
    const cls = broadcastTo(reshape(this.param("visual.class_embedding"), [1, 1, W]), [B, 1, W]);
    let x = add(concat([cls, patches], 1), this.param("visual.positional_embedding"));
    x = layerNorm(
      x,
      this.param("visual.ln_pre.weight"),
      this.param("visual.ln_pre.bias"),
      this.#eps,
    );
    for (let i = 0; i < c.visionLayers; i++) {
      x = this.#residualBlock(x, `visual.transformer.resblocks.${i}`, c.visionHeads, false);
    }
    const cls0 = reshape(slice(x, 1, 0, 1), [B, W]);
    const pooled = layerNorm(
      cls0,
      this.param("visual.ln_post.weight"),
      this.param("visual.ln_post.bias"),
      this.#eps,
    );
    return matmul(pooled, this.param("visual.proj"));
  }

  /** Text features [N, E] from token ids [N, T] (T ≤ context length; EOT = largest id). */
  encodeText(tokens: TokenRows): Tensor {
    const { ids, rows, T } = tokenRows(tokens, this.config.contextLength);
    const emb = gatherRows(this.param("token_embedding.weight"), ids);
    return this.encodeTextFromEmbeddings(
      reshape(emb, [rows, T, this.config.transformerWidth]),
      tokens,
    );
  }

  /**
   * Text features from input embeddings [N, T, Wt] (the CoOp path: learned context vectors in
   * place of some token embeddings). `tokens` [N, T] locate each row's EOT (its largest id).
   */
  encodeTextFromEmbeddings(embeddings: Tensor, tokens: TokenRows): Tensor {
    const c = this.config;
    const { ids, rows, T } = tokenRows(tokens, c.contextLength);
    const Wt = c.transformerWidth;
    if (
      embeddings.rank !== 3 || embeddings.shape[0] !== rows || embeddings.shape[1] !== T ||
      embeddings.shape[2] !== Wt
    ) {
      throw new Error(
        `encodeTextFromEmbeddings: embeddings must be [${rows}, ${T}, ${Wt}], got [${embeddings.shape}]`,
      );
    }
    const pos = slice(this.param("positional_embedding"), 0, 0, T);
    let x = add(embeddings, pos);
    for (let i = 0; i < c.transformerLayers; i++) {
      x = this.#residualBlock(x, `transformer.resblocks.${i}`, c.transformerHeads, true);
    }
    x = layerNorm(x, this.param("ln_final.weight"), this.param("ln_final.bias"), this.#eps);
    const eot = eotPositions(ids, rows, T).map((t, r) => r * T + t);
    const pooled = gatherRows(reshape(x, [rows * T, Wt]), eot); // [N, Wt]
    return matmul(pooled, this.param("text_projection"));
  }

  /**
   * Input embeddings for prompts whose rows hold context slots: tokens [N, T] are the prompt
   * ids (SOT, M context placeholders, class tokens, EOT), ctx is [N, M, Wt] (class-specific)
   * or [M, Wt] (shared). Returns [N, T, Wt] = [emb(SOT), ctx, emb(rest)].
   */
  promptEmbeddings(ctx: Tensor, tokens: TokenRows): Tensor {
    const { ids, rows, T } = tokenRows(tokens, this.config.contextLength);
    const Wt = this.config.transformerWidth;
    const M = ctx.shape[ctx.rank - 2];
    const ctxRows = ctx.rank === 2 ? broadcastTo(reshape(ctx, [1, M, Wt]), [rows, M, Wt]) : ctx;
    if (ctxRows.shape[0] !== rows || ctx.shape[ctx.rank - 1] !== Wt) {
      throw new Error(
        `promptEmbeddings: ctx [${ctx.shape}] does not fit ${rows} prompts of width ${Wt}`,
      );
    }
    const emb = reshape(gatherRows(this.param("token_embedding.weight"), ids), [rows, T, Wt]);
    return concat([slice(emb, 1, 0, 1), ctxRows, slice(emb, 1, 1 + M, T)], 1);
  }

  /** logit_scale.exp() · normalize(image) · normalize(text)ᵀ: [B, N]. */
  logits(imageFeatures: Tensor, textFeatures: Tensor): Tensor {
    const scale = exp(this.param("logit_scale"));
    const sim = matmul(l2Normalize(imageFeatures), l2Normalize(textFeatures), { transB: true });
    return mul(sim, scale);
  }

  /** Mean cross-entropy of logits_per_image against labels (CLIP's image-side loss). */
  loss(imageFeatures: Tensor, textFeatures: Tensor, labels: ArrayLike<number>): Tensor {
    return crossEntropy(this.logits(imageFeatures, textFeatures), labels);
  }
}

/** FNV-1a over the config, every tensor's name and shape, and up to 64 sampled values each. */
export function fingerprintWeights(w: HostWeights): string {
  let h = 0x811c9dc5;
  const mix = (v: number) => (h = Math.imul(h ^ v, 0x01000193) >>> 0);
  const text = (s: string) => {
    for (let i = 0; i < s.length; i++) mix(s.charCodeAt(i));
  };
  const arch = w.config as unknown as Record<string, unknown>;
  text(JSON.stringify(Object.keys(arch).sort().map((k) => [k, arch[k]])));
  const bits = new Uint32Array(1), f = new Float32Array(bits.buffer);
  for (const name of [...w.tensors.keys()].sort()) {
    const t = w.tensors.get(name)!;
    text(name + t.shape.join("x"));
    const step = Math.max(1, Math.floor(t.data.length / 64));
    for (let i = 0; i < t.data.length; i += step) {
      f[0] = t.data[i];
      mix(bits[0]);
    }
  }
  return h.toString(16).padStart(8, "0");
}

/** Token ids as an Int32Array with its shape, or rows of numbers. */
export type TokenRows =
  | { ids: Int32Array; shape: readonly number[] }
  | readonly (readonly number[])[];

function tokenRows(
  tokens: TokenRows,
  contextLength: number,
): { ids: Int32Array; rows: number; T: number } {
  let ids: Int32Array, rows: number, T: number;
  if ("ids" in tokens && !Array.isArray(tokens)) {
    const t = tokens as { ids: Int32Array; shape: readonly number[] };
    if (t.shape.length !== 2 || t.shape[0] * t.shape[1] !== t.ids.length) {
      throw new Error(`token ids: shape [${t.shape}] does not match ${t.ids.length} ids`);
    }
    [rows, T] = t.shape;
    ids = t.ids;
  } else {
    const rs = tokens as readonly (readonly number[])[];
    rows = rs.length;
    T = rs[0]?.length ?? 0;
    if (rs.some((r) => r.length !== T)) throw new Error("token rows must all have the same length");
    ids = Int32Array.from(rs.flat());
  }
  if (T > contextLength) {
    throw new Error(`token rows of ${T} exceed the context length ${contextLength}`);
  }
  if (rows === 0 || T === 0) throw new Error("no tokens");
  return { ids, rows, T };
}

/** Position of each row's largest id (the EOT in CLIP's vocabulary): CLIP's text pooling. */
export function eotPositions(ids: Int32Array, rows: number, T: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let t = 1; t < T; t++) if (ids[r * T + t] > ids[r * T + best]) best = t;
    out.push(best);
  }
  return out;
}

/**
 * Token rows cut right after the latest EOT of the batch. The text tower is causal and pools at
 * the EOT, so the features are identical while the work drops from 77 tokens to ~10-30.
 */
export function trimTokens(tokens: { ids: Int32Array; shape: readonly number[] }): {
  ids: Int32Array;
  shape: [number, number];
} {
  const [rows, T] = tokens.shape;
  const keep = Math.max(...eotPositions(tokens.ids, rows, T)) + 1;
  if (keep === T) return { ids: tokens.ids, shape: [rows, T] };
  const ids = new Int32Array(rows * keep);
  for (let r = 0; r < rows; r++) ids.set(tokens.ids.subarray(r * T, r * T + keep), r * keep);
  return { ids, shape: [rows, keep] };
}
