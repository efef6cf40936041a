// CA and ASR of a lab model as the lab measures them: zero-shot with "a photo of a {}." (with the
// attack's text key for TrojVQA) on the fixture test set, and on its non-target images with the
// trigger applied.

import type { Attack } from "../attacks/types.ts";
import type { Clip } from "../clip/model.ts";
import type { ClipTokenizer } from "../clip/tokenizer.ts";
import type { LoadedFixture } from "./demo.ts";
import { FMNIST_CLASSES } from "./fmnist.ts";
import { zeroShotPredict } from "./train.ts";
import { measure } from "../cbpt/run.ts";
import type { ImageSet } from "../io/images.ts";
import { asEvalAttack } from "./attack.ts";
import { EVAL_TEMPLATE } from "./vocab.ts";

/** CA on the test set, and ASR on its non-target images with the trigger (zero-shot). */
export async function cleanAndAttacked(
  clip: Clip,
  tokenizer: ClipTokenizer,
  test: { images01: Float32Array; labels: number[]; n: number },
  attack: Attack,
  target: number,
): Promise<{ ca: number; asr: number }> {
  const R = clip.config.imageResolution;
  const zeroShot = (template: string) => (set: ImageSet) =>
    zeroShotPredict(clip, tokenizer, FMNIST_CLASSES, set.n, (s, n) => ({
      pixels01: set.pixels.subarray(s * 3 * R * R, (s + n) * 3 * R * R),
      channels: 3,
    }), { template });
  const { ca, asr } = await measure(
    zeroShot(EVAL_TEMPLATE),
    { set: { pixels: test.images01, n: test.n, size: R }, labels: test.labels },
    asEvalAttack(attack, target),
    zeroShot(attack.evalPrompt(EVAL_TEMPLATE)),
  );
  return { ca, asr: asr! };
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
