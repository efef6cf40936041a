// Zero-shot classifier weights: for each class, the normalised mean of the normalised text
// features of its prompts (CLIP's prompt ensembling).

import { concat, l2Normalize, mean, reshape } from "../autograd/ops/index.ts";
import { noGrad, type Tensor, tidy } from "../autograd/tensor.ts";
import { type Clip, trimTokens } from "./model.ts";
import { fillTemplate } from "./templates.ts";
import type { ClipTokenizer } from "./tokenizer.ts";

/** Options of {@link zeroShotClassifier}. */
export interface ZeroShotOptions {
  /** Prompts encoded per dispatch batch (bounds memory). */
  batch?: number;
}

/** [C, E] unit-norm class features (kept: the caller disposes them). */
export function zeroShotClassifier(
  clip: Clip,
  tokenizer: ClipTokenizer,
  classes: readonly string[],
  templates: readonly string[],
  { batch = 64 }: ZeroShotOptions = {},
): Tensor {
  if (classes.length === 0 || templates.length === 0) throw new Error("no classes or templates");
  const prompts = classes.flatMap((c) => templates.map((t) => fillTemplate(t, c)));
  const ctx = clip.config.contextLength;
  return noGrad(() =>
    tidy(() => {
      const parts: Tensor[] = [];
      for (let i = 0; i < prompts.length; i += batch) {
        const toks = trimTokens(tokenizer.tokenize(prompts.slice(i, i + batch), ctx));
        // Each batch's activations are freed before the next (1,000 classes × 80 templates
        // would otherwise hold every batch's at once).
        parts.push(tidy(() => l2Normalize(clip.encodeText(toks))));
      }
      const all = parts.length === 1 ? parts[0] : concat(parts, 0);
      const E = all.shape[1];
      return l2Normalize(mean(reshape(all, [classes.length, templates.length, E]), 1));
    }).keep()
  );
}
