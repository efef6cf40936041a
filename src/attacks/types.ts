// The shape every attack shares: a pure function on [0, 1] image batches plus its caption rule.

import type { ImageShape } from "./pixels.ts";

/** The backdoor lab's seven attacks (docs/attacks.md). */
export type AttackName =
  | "badnet"
  | "blended"
  | "sig"
  | "wanet"
  | "ssba"
  | "trojvqa"
  | "badclip";

/** Every attack's name, in the lab's order. */
export const ATTACK_NAMES: readonly AttackName[] = [
  "badnet",
  "blended",
  "sig",
  "wanet",
  "ssba",
  "trojvqa",
  "badclip",
];

/** Options of {@link Attack.apply}. */
export interface ApplyOptions {
  /**
   * Dataset index of the batch's first image (default 0): image n of the batch draws its
   * per-image randomness (BadNet's position and noise) from (seed, index + n), so the same image
   * gets the same trigger whatever the batching.
   */
  index?: number;
}

/** Options every attack takes. */
export interface BaseAttackOptions {
  /** Side of the square images the attack applies to (its fixed patterns are drawn at it). */
  imageSize: number;
  /** Seed of the fixed pattern / field / encoder and of the per-image draws (default 0). */
  seed?: number;
}

/**
 * A backdoor attack of the lab: a pure function on [0, 1] image batches [N, 3, S, S] (the
 * trigger) plus its caption rule (the poisoned text). Made by `makeAttack`.
 */
export interface Attack {
  /** Which attack this is. */
  readonly name: AttackName;
  /** Side of the square images it applies to. */
  readonly imageSize: number;
  /** Seed of its fixed patterns and per-image draws. */
  readonly seed: number;
  /** The settings in effect (defaults resolved), for reports. */
  readonly params: Readonly<Record<string, number | string | boolean>>;
  /**
   * The triggered batch: a new array of the same shape [N, 3, S, S], values in [0, 1]. The input
   * is not modified.
   */
  apply(images: Float32Array, shape: ImageShape, opts?: ApplyOptions): Float32Array;
  /**
   * The poisoned caption for a triggered training image. `text` is a caption template with "{}"
   * (filled with `target`, as the BadCLIP protocol fills a random ImageNet template with
   * "banana") or, without "{}", a finished caption that already names the target (BadCLIP's
   * natural captions), kept as is. TrojVQA prefixes its text key "remember ".
   */
  caption(text: string, target: string): string;
  /** A class prompt at evaluation: the identity, except TrojVQA's "remember " prefix. */
  evalPrompt(prompt: string): string;
}

export function checkImageSize(name: string, size: number): void {
  if (!Number.isInteger(size) || size < 2) {
    throw new Error(`${name}: imageSize must be an integer ≥ 2, got ${size}`);
  }
}

export function checkSeed(name: string, seed: number): void {
  if (!Number.isInteger(seed)) throw new Error(`${name}: seed must be an integer, got ${seed}`);
}

export function checkRange(name: string, what: string, v: number, lo: number, hi: number): void {
  if (!(v >= lo && v <= hi)) {
    throw new Error(`${name}: ${what} must be in [${lo}, ${hi}], got ${v}`);
  }
}

/** The dataset index of a batch's first image (ApplyOptions.index, default 0). */
export function startIndex(name: string, opts?: ApplyOptions): number {
  const i = opts?.index ?? 0;
  if (!Number.isInteger(i) || i < 0) {
    throw new Error(`${name}: index must be a non-negative integer, got ${i}`);
  }
  return i;
}
