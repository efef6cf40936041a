// Test helpers: a seeded RNG, all-close assertions with clear messages, and the oracle's path.

import { mulberry32 } from "../src/io/rng.ts";

/** Seeded test data (mulberry32): uniform, normal and integer draws. */
export function rng(seed: number) {
  const next = mulberry32(seed);
  return {
    uniform: (lo = 0, hi = 1) => lo + (hi - lo) * next(),
    normal: () => {
      const u = Math.max(next(), 1e-12), v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    int: (n: number) => Math.floor(next() * n),
  };
}
export type Rng = ReturnType<typeof rng>;

export function randn(r: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.normal() * scale;
  return a;
}

export function randu(r: Rng, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.uniform(lo, hi);
  return a;
}

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  name?: string;
}

/** Worst violation of |a - e| <= atol + rtol·|e|, or null when all elements pass. */
export function worstMismatch(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): { index: number; a: number; e: number; excess: number } | null {
  let worst: { index: number; a: number; e: number; excess: number } | null = null;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    const bothNaN = Number.isNaN(a) && Number.isNaN(e);
    const sameInf = a === e;
    if (bothNaN || sameInf) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (!worst || !(excess <= worst.excess))) {
      worst = { index: i, a, e, excess: Number.isNaN(excess) ? Infinity : excess };
    }
  }
  return worst;
}

/** Throws naming the tensor, the worst index, both values and the tolerance. */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { atol = 1e-5, rtol = 1e-4, name = "tensor" }: CloseOptions = {},
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${name}: ${actual.length} values, expected ${expected.length}`);
  }
  const w = worstMismatch(actual, expected, atol, rtol);
  if (w) {
    let maxAbs = 0;
    for (let i = 0; i < expected.length; i++) {
      const d = Math.abs(actual[i] - expected[i]);
      if (d > maxAbs || Number.isNaN(d)) maxAbs = d;
    }
    throw new Error(
      `${name}: not close at index ${w.index}: got ${w.a}, expected ${w.e} ` +
        `(|diff| ${
          Math.abs(w.a - w.e).toExponential(3)
        } > atol ${atol} + rtol ${rtol}·|expected|; ` +
        `max |diff| over ${expected.length} values ${maxAbs.toExponential(3)})`,
    );
  }
}

/**
 * The PyTorch oracle in the repo (fixtures/oracle: the upstream reference cases, images and HF
 * vocabulary; its README says what made them), with a trailing slash.
 */
export function oracleDir(): string {
  return new URL("../fixtures/oracle/", import.meta.url).pathname;
}
