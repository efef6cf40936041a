// CoOp class-specific context (CSC): M learnable vectors per class in front of the class name,
// `[SOT][ctx_c,1..M][class name tokens][.][EOT]`, the text tower frozen. Prompts are cut right
// after the latest EOT (the tower is causal, so the features are unchanged). Many classes run
// through the text tower in class chunks (`promptChunks`), each cut after its own latest EOT, so
// that the activations held at once do not grow with the class count (see tune.ts).

import { concat, gatherRows, l2Normalize, slice } from "../autograd/ops/index.ts";
import { isGradEnabled, noGrad, readTensors, type Tensor, tidy } from "../autograd/tensor.ts";
import { type Clip, trimTokens } from "../clip/model.ts";
import type { ClipConfig } from "../clip/config.ts";
import { rt } from "../gpu/runtime.ts";
import type { ClipTokenizer } from "../clip/tokenizer.ts";
import { mulberry32 } from "../io/rng.ts";

/** How context vectors start: N(0, 0.02²) draws, or the token embeddings of "a photo of a". */
export type ContextInit = "random" | "a photo of a";

/** The class prompts' token rows `[SOT][X × nCtx][class name][.][EOT]`, cut after the EOT. */
export interface PromptTokens {
  /** Row-major token ids, [classes, length]. */
  ids: Int32Array;
  /** [classes, length]. */
  shape: [number, number];
  /** Placeholder slots per row that the context vectors replace. */
  nCtx: number;
}

/** Token rows `X X … X {class}.` whose M placeholder slots the context vectors replace. */
export function promptTokens(
  tokenizer: ClipTokenizer,
  classNames: readonly string[],
  nCtx: number,
  contextLength: number,
): PromptTokens {
  const texts = classNames.map((c) => `${Array(nCtx).fill("X").join(" ")} ${c}.`);
  const full = tokenizer.tokenize(texts, contextLength, { truncate: false });
  const [rows, T] = full.shape;
  const x = full.ids[1];
  for (let r = 0; r < rows; r++) {
    for (let k = 1; k <= nCtx; k++) {
      if (full.ids[r * T + k] !== x) {
        throw new Error(
          `prompt for class "${classNames[r]}": placeholders did not tokenize as ${nCtx} tokens`,
        );
      }
    }
  }
  const cut = trimTokens(full);
  return { ids: cut.ids, shape: cut.shape, nCtx };
}

/** n_ctx values tried, largest first, when the user names none (CoOp's 16, then shorter). */
export const N_CTX_CHOICES = [16, 8, 4] as const;

/** What fits the model's text context: the chosen n_ctx and, when it was picked, why. */
export interface ContextFit {
  /** The context vectors per class to use. */
  nCtx: number;
  /** The most context vectors every class prompt admits. */
  maxNCtx: number;
  /** Set when n_ctx was picked for the model rather than given. */
  note?: string;
}

/**
 * Checks the prompts `[SOT][ctx × n][class name][.][EOT]` against the text context before any
 * work starts. `requested` "auto" picks the largest of N_CTX_CHOICES that fits every class (or
 * the most that fits, if even 4 does not); a number must fit or this throws naming the longest
 * class. The zero-shot prompt "a photo of a {c}." must fit too: truncating it would silently
 * change the baseline every measurement is compared with.
 */
export function fitContext(
  tokenizer: ClipTokenizer,
  classNames: readonly string[],
  contextLength: number,
  requested: number | "auto",
): ContextFit {
  const lengths = classNames.map((c) => tokenizer.encode(`${c}.`).length);
  const longest = lengths.indexOf(Math.max(...lengths));
  const name = classNames[longest];
  const maxNCtx = contextLength - 2 - lengths[longest];
  const zs = classNames.map((c) => 2 + tokenizer.encode(`a photo of a ${c}.`).length);
  const zsBad = zs.findIndex((n) => n > contextLength);
  if (zsBad >= 0) {
    throw new Error(
      `class "${classNames[zsBad]}": "a photo of a ${classNames[zsBad]}." is ${zs[zsBad]} ` +
        `tokens with SOT/EOT, over this model's context length ${contextLength}; shorten the name`,
    );
  }
  if (maxNCtx < 1) {
    throw new Error(
      `class "${name}" is ${lengths[longest]} tokens (with its "."): no context vector fits ` +
        `this model's context length ${contextLength}; shorten the name`,
    );
  }
  if (requested === "auto") {
    const pick = N_CTX_CHOICES.find((n) => n <= maxNCtx) ?? maxNCtx;
    return {
      nCtx: pick,
      maxNCtx,
      ...(pick === N_CTX_CHOICES[0] ? {} : {
        note: `n_ctx ${pick}: this model's context length is ${contextLength} and class ` +
          `"${name}" takes ${lengths[longest]} tokens, so at most ${maxNCtx} context vectors fit`,
      }),
    };
  }
  if (!(Number.isInteger(requested) && requested >= 1)) {
    throw new Error(`n_ctx ${requested}: expected a whole number >= 1`);
  }
  if (requested > maxNCtx) {
    throw new Error(
      `n_ctx ${requested} does not fit: the prompt for class "${name}" would be ` +
        `${requested + 2 + lengths[longest]} tokens with SOT/EOT, over this model's context ` +
        `length ${contextLength} (at most n_ctx ${maxNCtx} fits)`,
    );
  }
  return { nCtx: requested, maxNCtx };
}

/** Initial context [C, M, Wt]: N(0, 0.02), or the embeddings of "a photo of a" for each class. */
export async function initialContext(
  clip: Clip,
  tokenizer: ClipTokenizer,
  classes: number,
  nCtx: number,
  init: ContextInit,
  seed: number,
): Promise<Float32Array> {
  const Wt = clip.config.transformerWidth;
  const out = new Float32Array(classes * nCtx * Wt);
  if (init === "random") {
    const rand = mulberry32(seed);
    for (let i = 0; i < out.length; i++) {
      const u = Math.max(rand(), 1e-12), v = rand();
      out[i] = 0.02 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
    return out;
  }
  const ids = tokenizer.encode(init);
  if (ids.length !== nCtx) {
    throw new Error(`context init "${init}" is ${ids.length} tokens; set --n-ctx ${ids.length}`);
  }
  const picked = noGrad(() => gatherRows(clip.param("token_embedding.weight"), ids));
  const [rows] = await readTensors([picked]);
  picked.dispose();
  for (let c = 0; c < classes; c++) out.set(rows, c * nCtx * Wt);
  return out;
}

/**
 * Normalised text features [C, E] of the prompts with context `ctx` [C, M, Wt] (or [M, Wt],
 * shared). Recorded when grad is on: then all classes go through the tower at once. Without the
 * tape (noGrad), classes go `classChunk` at a time (0: {@link classChunkSize}'s choice), each
 * chunk's activations freed before the next, so memory does not grow with the class count.
 */
export function promptFeatures(
  clip: Clip,
  ctx: Tensor,
  tokens: PromptTokens,
  classChunk = 0,
): Tensor {
  const C = tokens.shape[0];
  const K = classChunkSize(clip.config, tokens, classChunk, rt().maxBinding);
  if (isGradEnabled() || K >= C) {
    return l2Normalize(clip.encodeTextFromEmbeddings(clip.promptEmbeddings(ctx, tokens), tokens));
  }
  const parts = promptChunks(tokens, K).map((ch) =>
    tidy(() => promptFeatures(clip, chunkContext(ctx, ch), ch.tokens, ch.end - ch.start))
  );
  const all = concat(parts, 0);
  for (const p of parts) p.dispose();
  return all;
}

/** A class chunk: rows [start, end) of the prompts, their tokens cut after the chunk's EOT. */
export interface PromptChunk {
  /** First class of the chunk. */
  start: number;
  /** One past its last class. */
  end: number;
  /** The chunk's token rows, [end - start, length ≤ the full rows' length]. */
  tokens: PromptTokens;
}

/** The prompts in chunks of `size` classes (the last one shorter). */
export function promptChunks(tokens: PromptTokens, size: number): PromptChunk[] {
  const [C, T] = tokens.shape;
  if (!(Number.isInteger(size) && size >= 1)) throw new Error(`class chunk ${size}: expected >= 1`);
  const out: PromptChunk[] = [];
  for (let start = 0; start < C; start += size) {
    const end = Math.min(C, start + size);
    const cut = trimTokens({
      ids: tokens.ids.subarray(start * T, end * T),
      shape: [end - start, T],
    });
    out.push({ start, end, tokens: { ids: cut.ids, shape: cut.shape, nCtx: tokens.nCtx } });
  }
  return out;
}

/** The chunk's rows of a class-specific context [C, M, Wt]; a shared one [M, Wt] as it is. */
export function chunkContext(ctx: Tensor, ch: PromptChunk): Tensor {
  return ctx.rank === 3 && (ch.start > 0 || ch.end < ctx.shape[0])
    ? slice(ctx, 0, ch.start, ch.end)
    : ctx;
}

/** The text tower's dimensions. */
export type TextTower = Pick<
  ClipConfig,
  "transformerLayers" | "transformerWidth" | "transformerHeads"
>;

/**
 * Bytes the text tower holds per prompt of `T` tokens through a recorded forward and backward:
 * every op's output lives until the step ends, about 35 [T, Wt] tensors and 2 [H, T, T] ones a
 * block (layer norms, q/k/v and their copies, the 4×-wide MLP before and after its bias and
 * activation, residual sums), f32, times 1.5 for the pool's rounding and the backward's
 * transients: measured 26.2 MiB a prompt on ViT-B/32 at 21.5 tokens, this says 27.0
 * (bench/scale.ts prints both).
 */
export function textBytesPerPrompt(c: TextTower, T: number): number {
  return 1.5 * 4 * c.transformerLayers *
    (35 * T * c.transformerWidth + 2 * c.transformerHeads * T * T);
}

/** Text-tower activations one chunk of prompts may hold when the chunk is chosen (0: auto). */
export const TEXT_CHUNK_BYTES = 2 ** 30;

/**
 * Classes per text-tower chunk: `requested` when ≥ 1, else (0) all of them when their
 * activations ({@link textBytesPerPrompt}) fit TEXT_CHUNK_BYTES, else as many as fit (at least
 * one), and never so many that the chunk's widest tensor (the MLP's [K·T, 4·Wt], the attention's
 * [K, H, T, T]) would pass `maxBinding`, the adapter's largest storage binding. Tens of classes
 * take one chunk (ViT-B/32: up to 37 prompts of 22 tokens); a recorded chunk costs a forward
 * and a backward, the chunked step one forward more (about 1.5× the time: the frozen tower's
 * backward costs what its forward does).
 */
export function classChunkSize(
  c: TextTower,
  tokens: PromptTokens,
  requested = 0,
  maxBinding = Infinity,
): number {
  const [C, T] = tokens.shape;
  if (requested !== 0) {
    if (!(Number.isInteger(requested) && requested >= 1)) {
      throw new Error(`class chunk ${requested}: expected a whole number >= 1 (0: auto)`);
    }
    return Math.min(requested, C);
  }
  const widest = 4 * T * Math.max(4 * c.transformerWidth, c.transformerHeads * T);
  const fit = Math.min(TEXT_CHUNK_BYTES / textBytesPerPrompt(c, T), maxBinding / widest);
  return Math.max(1, Math.min(C, Math.floor(fit)));
}
