// The purified classifier: CLIP plus learned class-wise prompts. Text features are computed once,
// so classify() costs what zero-shot CLIP costs. Prompts are saved with the model's fingerprint
// and refuse to load onto another model.

import { l2Normalize } from "../autograd/ops/index.ts";
import { noGrad, Tensor, tidy } from "../autograd/tensor.ts";
import type { Clip } from "../clip/model.ts";
import { readSafetensors, toFloat32, writeSafetensors } from "../io/safetensors.ts";
import type { ClipTokenizer } from "../clip/tokenizer.ts";
import { classProbabilities, imageFeatures, rowArgmax } from "../clip/pixels.ts";
import { promptFeatures, type PromptTokens, promptTokens } from "./prompts.ts";

/** What {@link PurifiedClassifier.classify} returns. */
export interface Classification {
  /** The most probable class of each image. */
  labels: number[];
  /** Row-major [B, C] class probabilities. */
  probs: Float32Array;
}

/**
 * CLIP with CBPT's learned class-wise prompts: the purified zero-shot classifier. The text
 * features are computed once, so `classify` costs what zero-shot CLIP costs. Made by `runCbpt`,
 * `PurifiedClassifier.create` (from context vectors) or `.load` (a prompts.safetensors).
 */
export class PurifiedClassifier {
  private constructor(
    readonly clip: Clip,
    readonly classNames: readonly string[],
    readonly ctx: Float32Array,
    readonly tokens: PromptTokens,
    /** [C, E] normalised class features, computed once. */
    readonly textFeatures: Tensor,
  ) {}

  /** Builds the classifier from learned context [C, M, Wt]. */
  static create(
    clip: Clip,
    tokenizer: ClipTokenizer,
    classNames: readonly string[],
    ctx: Float32Array,
    nCtx: number,
  ): PurifiedClassifier {
    const C = classNames.length, Wt = clip.config.transformerWidth;
    if (ctx.length !== C * nCtx * Wt) {
      throw new Error(
        `prompts: ${ctx.length} values do not make [${C}, ${nCtx}, ${Wt}] (classes, n_ctx, width)`,
      );
    }
    const tokens = promptTokens(tokenizer, classNames, nCtx, clip.config.contextLength);
    const text = noGrad(() =>
      tidy(() => promptFeatures(clip, Tensor.from(ctx, [C, nCtx, Wt]), tokens))
    ).keep();
    return new PurifiedClassifier(clip, classNames, ctx, tokens, text);
  }

  /** Loads prompts.safetensors made for this model (fingerprint and shapes are checked). */
  static async load(
    clip: Clip,
    tokenizer: ClipTokenizer,
    path: string,
  ): Promise<PurifiedClassifier> {
    const st = await readSafetensors(path);
    const meta = st.metadata ?? {};
    if (meta.fingerprint && meta.fingerprint !== clip.fingerprint) {
      throw new Error(
        `${path}: these prompts were tuned on another model (fingerprint ${meta.fingerprint}, ` +
          `this model ${clip.fingerprint})`,
      );
    }
    const t = st.tensors.get("ctx");
    if (!t) throw new Error(`${path}: no tensor "ctx"`);
    const names: string[] = JSON.parse(meta.class_names ?? "null");
    if (!Array.isArray(names) || names.length !== t.shape[0]) {
      throw new Error(`${path}: __metadata__.class_names must list ${t.shape[0]} classes`);
    }
    if (t.shape.length !== 3 || t.shape[2] !== clip.config.transformerWidth) {
      throw new Error(
        `${path}: ctx is [${t.shape}], expected [C, M, ${clip.config.transformerWidth}] for this model`,
      );
    }
    return PurifiedClassifier.create(clip, tokenizer, names, toFloat32(t), t.shape[1]);
  }

  /** Writes prompts.safetensors (ctx [C, M, d], class names, fingerprint, settings). */
  async save(path: string, settings: Record<string, unknown> = {}): Promise<void> {
    const [C, M] = [this.classNames.length, this.tokens.nCtx];
    await writeSafetensors(
      path,
      { ctx: { dtype: "F32", shape: [C, M, this.clip.config.transformerWidth], data: this.ctx } },
      {
        class_names: JSON.stringify(this.classNames),
        fingerprint: this.clip.fingerprint,
        n_ctx: String(M),
        prompt: "[SOT][ctx_c,1..M][class name][.][EOT]",
        settings: JSON.stringify(settings),
      },
    );
  }

  /**
   * Class probabilities of normalised pixels [B, 3, R, R] (with the model's `pixelStats`, as
   * preprocessImages gives them with `stats: clip.pixelStats`), or of [0, 1] pixels.
   */
  async classify(
    pixels: Tensor | { pixels01: Float32Array; n: number },
  ): Promise<Classification> {
    const R = this.clip.config.imageResolution;
    // [0, 1] pixels go through the tower in chunks (any number of images); a given tensor is
    // the caller's, already on the GPU.
    const img = noGrad(() =>
      pixels instanceof Tensor
        ? l2Normalize(this.clip.encodeImage(pixels))
        : imageFeatures(this.clip, { pixels: pixels.pixels01, n: pixels.n, size: R })
    );
    try {
      const p = await classProbabilities(this.clip, img, this.textFeatures);
      return { labels: rowArgmax(p, this.classNames.length), probs: p };
    } finally {
      img.dispose();
    }
  }

  /** Frees the class features (the CLIP stays the caller's). */
  dispose(): void {
    this.textFeatures.dispose();
  }
}
