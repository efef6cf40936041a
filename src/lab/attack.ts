// The attack that ASR is measured with, from its name on the command line: one of the backdoor
// lab's seven (src/attacks/), drawn at the model's input size. BadCLIP's trigger is an optimised
// patch, so it must come as a picture (the attacker's; `--attack-patch FILE`).

import { ATTACK_NAMES, isAttackName, makeAttack } from "../attacks/index.ts";
import type { Attack } from "../attacks/types.ts";
import type { AppliedAttack, EvalAttack } from "../cbpt/run.ts";
import type { HostTrigger } from "../cbpt/trigger.ts";

/** A [3, p, p] patch in [0, 1] from an image file (RGB, alpha dropped, not resized). */
export async function readPatch(path: string): Promise<Float32Array> {
  const { sharp } = await import("../io/sharp.ts");
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
export function asEvalAttack(attack: Attack, target: number): AppliedAttack {
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
): Promise<AppliedAttack> {
  return asEvalAttack(await labAttack(name, size, seed, patchPath), target);
}

/**
 * The attack's own trigger as a HostTrigger, for stage 2 against the true trigger (the oracle
 * bound, `--known-trigger`). Works for attacks that map every pixel by the same affine rule on
 * every image, x̃ = a⊙x + b (clamped): additive ones (SIG: a = 1) and blends or fixed patches
 * (Blended, TrojVQA, BadCLIP: a = 1 − m per pixel). a and b are read off two flat grey images; a
 * third, varied image checks the rule, so warps (WaNet), sample-specific residuals (SSBA) and
 * patches redrawn per image (BadNet) are refused.
 */
export function attackTrigger(attack: EvalAttack, size: number): HostTrigger {
  const plane = size * size, m = 3 * plane;
  const probe = new Float32Array(3 * m);
  probe.fill(0.25, 0, m);
  probe.fill(0.75, m, 2 * m);
  for (let i = 0; i < m; i++) probe[2 * m + i] = 0.5 + 0.4 * Math.sin(i * 0.731);
  if (!attack.apply) {
    throw new Error(`${attack.name}: --known-trigger needs an attack that applies its trigger`);
  }
  const out = attack.apply({ pixels: probe, n: 3, size }).pixels;
  const a = new Float32Array(m), b = new Float32Array(m);
  for (let i = 0; i < m; i++) {
    a[i] = (out[m + i] - out[i]) / 0.5;
    b[i] = out[i] - 0.25 * a[i];
  }
  const refuse = (why: string) =>
    new Error(`attack ${attack.name}: its trigger is not a fixed per-pixel blend (${why})`);
  for (let i = 0; i < m; i++) {
    const want = Math.min(1, Math.max(0, a[i] * probe[2 * m + i] + b[i]));
    if (Math.abs(out[2 * m + i] - want) > 1e-4) throw refuse(`pixel ${i} of a varied image`);
  }
  if (a.every((v) => Math.abs(v - 1) < 1e-4)) {
    return { kind: "additive", size, epsilon: Math.max(...b.map(Math.abs)), delta: b };
  }
  // A blend: one mask value per pixel, shared by the channels.
  const mask = new Float32Array(plane), pattern = new Float32Array(m);
  for (let p = 0; p < plane; p++) {
    mask[p] = 1 - a[p];
    for (let ch = 1; ch < 3; ch++) {
      if (Math.abs(a[ch * plane + p] - a[p]) > 1e-4) throw refuse("channels mix differently");
    }
    if (mask[p] < -1e-4 || mask[p] > 1 + 1e-4) throw refuse(`mask ${mask[p]} outside [0, 1]`);
  }
  for (let i = 0; i < m; i++) {
    const mk = mask[i % plane];
    pattern[i] = mk > 1e-6 ? Math.min(1, Math.max(0, b[i] / mk)) : 0;
  }
  return { kind: "mask", size, mask, pattern };
}
