// CA and ASR of a lab model as the lab measures them: zero-shot with "a photo of a {}." (with the
// attack's text key for TrojVQA) on the fixture test set, and on its non-target images with the
// trigger applied.

import type { Attack } from "../attacks/types.ts";
import type { Clip } from "../clip/model.ts";
import type { ClipTokenizer } from "../clip/tokenizer.ts";
import type { LoadedFixture } from "./demo.ts";
import { FMNIST_CLASSES } from "./fmnist.ts";
import { accuracy, zeroShotPredict } from "./train.ts";
import { EVAL_TEMPLATE } from "./vocab.ts";

/** CA on the test set, and ASR on its non-target images with the trigger (zero-shot). */
export async function cleanAndAttacked(
  clip: Clip,
  tokenizer: ClipTokenizer,
  test: { images01: Float32Array; labels: number[]; n: number },
  attack: Attack,
  target: number,
): Promise<{ ca: number; asr: number }> {
  const R = clip.config.imageResolution, m = 3 * R * R;
  const preds = await zeroShotPredict(
    clip,
    tokenizer,
    FMNIST_CLASSES,
    test.n,
    (s, n) => ({ pixels01: test.images01.subarray(s * m, (s + n) * m), channels: 3 }),
    { template: EVAL_TEMPLATE },
  );
  const keep = test.labels.map((y, i) => (y === target ? -1 : i)).filter((i) => i >= 0);
  const px = new Float32Array(keep.length * m);
  keep.forEach((i, j) => px.set(test.images01.subarray(i * m, (i + 1) * m), j * m));
  const triggered = attack.apply(px, [keep.length, 3, R, R]);
  const tp = await zeroShotPredict(
    clip,
    tokenizer,
    FMNIST_CLASSES,
    keep.length,
    (s, n) => ({ pixels01: triggered.subarray(s * m, (s + n) * m), channels: 3 }),
    { template: attack.evalPrompt(EVAL_TEMPLATE) },
  );
  return {
    ca: accuracy(preds, test.labels),
    asr: tp.filter((p) => p === target).length / tp.length,
  };
}

/** cleanAndAttacked on a loaded fixture with its own attack and test set. */
export function measureFixture(fx: LoadedFixture): Promise<{ ca: number; asr: number }> {
  if (!fx.labAttack) {
    throw new Error(`${fx.record.attack}: not one of the lab's attacks (a trigger.json model)`);
  }
  return cleanAndAttacked(
    fx.clip,
    fx.tokenizer,
    { images01: fx.test.set.pixels, labels: fx.test.labels, n: fx.test.set.n },
    fx.labAttack,
    fx.record.targetIndex,
  );
}
