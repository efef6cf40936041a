// Seeded randomness for the attacks: every fixed pattern is drawn from (seed, stream) and every
// per-image draw from (seed, stream, image index), so an attacked image depends only on the
// attack's seed and the image's index in its dataset, never on batching or call order.

/** Chris Wellons' lowbias32: a 32-bit integer hash with strong avalanche. */
function lowbias32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A 32-bit hash of a list of integers (each one mixed in through lowbias32). */
export function hashInts(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) h = lowbias32((h ^ lowbias32(x >>> 0)) + 0x6d2b79f5);
  return h;
}

/** Stream tags: one independent stream per use. */
export const STREAM = {
  badnet: 1,
  blended: 2,
  wanet: 3,
  ssbaWeights: 4,
  ssbaKey: 5,
  trojvqa: 6,
  badclip: 7,
  blendedPerImage: 8,
} as const;

export interface Random {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Uniform integer in [lo, hi], both inclusive (Python's random.randint). */
  int(lo: number, hi: number): number;
}

/**
 * A counter-based generator: the n-th uniform is lowbias32(seed + n·0x9e3779b9) / 2³² (nearby
 * seeds give unrelated streams); Box–Muller normals.
 */
export function seededRandom(seed: number): Random {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x9e3779b9) >>> 0;
    return lowbias32(s) / 4294967296;
  };
  let spare: number | null = null;
  return {
    uniform,
    normal() {
      if (spare !== null) {
        const v = spare;
        spare = null;
        return v;
      }
      const u = Math.max(uniform(), 1e-12), v = uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    int(lo: number, hi: number) {
      return lo + Math.floor(uniform() * (hi - lo + 1));
    },
  };
}

/** The stream of one use of one attack (and of one image when `index` is given). */
export function streamRandom(seed: number, stream: number, index?: number): Random {
  return seededRandom(index === undefined ? hashInts(seed, stream) : hashInts(seed, stream, index));
}
