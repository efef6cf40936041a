// Seeded host randomness for sampling (few-shot draws, batches, augmentation, initialisation,
// test data). The attacks' counter-based streams are src/attacks/rng.ts: an attacked image must
// not depend on call order, which a sequential generator like this one cannot promise.

/** Mulberry32's raw stream: 32-bit unsigned integers from a 32-bit seed. */
export function mulberry32Bits(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Mulberry32: a uniform [0, 1) stream from a 32-bit seed; small, fast, good enough to sample. */
export function mulberry32(seed: number): () => number {
  const bits = mulberry32Bits(seed);
  return () => bits() / 4294967296;
}

/** Fisher–Yates shuffle of `a` in place with `rand` (one draw per position, last to first). */
export function shuffleInPlace<T>(a: T[], rand: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * Batches of B indices in [0, n): a permutation walked B at a time and reshuffled with `rand`
 * (shuffleInPlace) whenever fewer than B are left, so no index repeats within a pass and a pass's
 * remainder is dropped. Stage 1's inversion and BadCLIP's patch optimisation draw their batches so.
 */
export function batchDrawer(n: number, B: number, rand: () => number): () => number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let at = n;
  return () => {
    if (at + B > n) {
      shuffleInPlace(order, rand);
      at = 0;
    }
    const idx = order.slice(at, at + B);
    at += B;
    return idx;
  };
}
