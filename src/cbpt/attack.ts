// The attack that ASR is measured with, from its name on the command line: one of the backdoor
// lab's seven (src/attacks/), drawn at the model's input size. BadCLIP's trigger is an optimised
// patch, so it must come as a picture (the attacker's; `--attack-patch FILE`).

import { ATTACK_NAMES, isAttackName, makeAttack } from "../attacks/index.ts";
import type { Attack } from "../attacks/types.ts";
import type { EvalAttack } from "./run.ts";

/** A [3, p, p] patch in [0, 1] from an image file (RGB, alpha dropped, not resized). */
export async function readPatch(path: string): Promise<Float32Array> {
  const { default: sharp } = await import("sharp");
  let raw;
  try {
    raw = await sharp(path).removeAlpha().toColourspace("srgb").raw().toBuffer({
      resolveWithObject: true,
    });
  } catch (e) {
    throw new Error(`${path}: cannot read the patch picture (${(e as Error).message})`);
  }
  const { width: w, height: h, channels: c } = raw.info;
  if (w !== h) throw new Error(`${path}: a patch must be square, got ${w}×${h}`);
  const out = new Float32Array(3 * w * h);
  for (let i = 0; i < w * h; i++) {
    for (let ch = 0; ch < 3; ch++) {
      out[ch * w * h + i] = raw.data[i * c + Math.min(ch, c - 1)] / 255;
    }
  }
  return out;
}

/** Wraps one of the lab's attacks as CBPT's EvalAttack. */
export function asEvalAttack(attack: Attack, target: number): EvalAttack {
  return {
    name: attack.name,
    target,
    apply: (set) => ({
      pixels: attack.apply(set.pixels, [set.n, 3, set.size, set.size]),
      n: set.n,
      size: set.size,
    }),
    evalPrompt: attack.name === "trojvqa" ? (p) => attack.evalPrompt(p) : undefined,
  };
}

/**
 * The named lab attack at `size` px with `seed`'s fixed patterns (the same seed the attacker
 * used, for the lab's fixtures). `patchPath` is required for badclip and ignored otherwise;
 * `patchSize` sets BadNet's square (default 16/224 of the side).
 */
export async function labAttack(
  name: string,
  size: number,
  seed: number,
  patchPath?: string,
  patchSize?: number,
): Promise<Attack> {
  if (!isAttackName(name)) {
    throw new Error(`--attack ${name}: expected one of ${ATTACK_NAMES.join(", ")}`);
  }
  if (name === "badclip") {
    if (!patchPath) {
      throw new Error(
        "--attack badclip needs --attack-patch FILE (the attacker's optimised patch)",
      );
    }
    return makeAttack("badclip", { imageSize: size, seed, patch: await readPatch(patchPath) });
  }
  if (name === "badnet") return makeAttack("badnet", { imageSize: size, seed, patchSize });
  return makeAttack(name, { imageSize: size, seed });
}

/** labAttack as CBPT's EvalAttack with the attacker's target class. */
export async function evalAttack(
  name: string,
  target: number,
  size: number,
  seed: number,
  patchPath?: string,
): Promise<EvalAttack> {
  return asEvalAttack(await labAttack(name, size, seed, patchPath), target);
}
