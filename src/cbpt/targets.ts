// Which class does a backdoor send images to? For every class c, a targeted universal trigger is
// inverted on the few-shot images of the *other* classes, under an L∞ bound that climbs a ladder
// (2/255, 4/255, …); the class's cost is the first bound at which its trigger sends `success` of
// those images to c. A backdoor's target needs far less than the others (Neural Cleanse's premise,
// with an L∞ ladder instead of a mask norm), so the evidence is each class's cost against the
// median of the rest, in robust standard deviations (the anomaly index over log2 bounds).
//
// Why per class and targeted: an untargeted universal perturbation of a small CLIP goes to the
// model's sink (on the lab's CLEAN model "bag" takes 100 % at 16/255), so the class it lands in
// says nothing about a backdoor. The sink is cheap here too, but a planted target is cheaper.

import {
  add,
  clamp,
  crossEntropy,
  matmul,
  mul,
  reshape,
  sigmoid,
  sub,
} from "../autograd/ops/index.ts";
import { Adam, linfBall } from "../autograd/optim.ts";
import { readTensors, Tensor, tidy } from "../autograd/tensor.ts";
import type { Clip } from "../clip/model.ts";
import { encodePixels, imageChunk, predictClasses } from "../clip/pixels.ts";
import { type ImageSet, subset } from "../io/images.ts";
import { mulberry32, shuffleInPlace } from "../io/rng.ts";
import { type Progress, progressLine } from "./progress.ts";
import {
  expandPattern,
  formatEpsilon,
  type HostTrigger,
  patternShape,
  TRIGGER_PATTERNS,
  type TriggerPattern,
} from "./trigger.ts";

/** Settings of the per-class target search (the scan; stage 1's first step). */
export interface TargetSearchSettings {
  /** L∞ bounds tried in turn, ascending, in [0, 1] pixel units (a factor 2 apart). */
  bounds: number[];
  /** Adam steps per bound and class. */
  stepsPerBound: number;
  /** Images of the other classes per class and step. */
  batchPerClass: number;
  /** Adam's step as a fraction of the current bound. */
  lrScale: number;
  /** Share of the other classes' images whose crossing defines a class's cost. */
  crossing: number;
  /**
   * The trigger shapes searched, each a search of its own (see SearchPattern); the verdict
   * takes the one whose cheapest class stands out most, its evidence pooled over the shapes.
   */
  patterns: SearchPattern[];
  /**
   * The "patch" shape's ladder: mask areas as fractions of the image, ascending (a factor 2
   * apart), in place of `bounds`.
   */
  patchAreas: number[];
  /** Adam's step for the "patch" shape's mask and pattern logits. */
  patchLr: number;
}

/**
 * A shape the per-class search tries: an additive pattern under the L∞ ladder (TriggerPattern),
 * or "patch": Neural Cleanse's mask and pattern, x̃ = x + m ⊙ (p − x), under a ladder of mask
 * areas Σm instead of L∞ bounds. A patch trigger (BadNet's checkerboard) changes few pixels by
 * much: cheap in area, dear in L∞, where a generic perturbation of any class is as cheap.
 */
export type SearchPattern = TriggerPattern | "patch";

/** The search shapes there are. */
export const SEARCH_PATTERNS: readonly SearchPattern[] = [...TRIGGER_PATTERNS, "patch"];

/** "full,patch" from a command line as search shapes; an unknown or repeated one is an Error. */
export function parseSearchPatterns(flag: string, v: string): SearchPattern[] {
  const out = v.split(",").map((x) => x.trim());
  for (const x of out) {
    if (!(SEARCH_PATTERNS as readonly string[]).includes(x)) {
      throw new Error(`--${flag} ${v}: expected a list of ${SEARCH_PATTERNS.join(", ")}`);
    }
  }
  if (new Set(out).size !== out.length) throw new Error(`--${flag} ${v}: a shape is repeated`);
  return out as SearchPattern[];
}

/** The search's defaults (docs/scan.md says how they were chosen). */
export const TARGET_SEARCH_DEFAULTS: TargetSearchSettings = {
  bounds: [2, 4, 8, 16, 32, 64, 128].map((k) => k / 255),
  stepsPerBound: 25,
  batchPerClass: 8,
  lrScale: 0.125,
  crossing: 0.5,
  // Not "patch": on the lab's clean-s1 it puts "bag" 1.4 rungs under the median on every seed
  // (anomaly 4.1–4.6), a false alarm that no threshold separates from BadNet (docs/scan.md).
  patterns: ["full", "columns"],
  patchAreas: [8, 7, 6, 5, 4, 3].map((k) => 2 ** -k),
  patchLr: 0.1,
};

/** How much L∞ bound one class's targeted trigger needed. */
export interface ClassCost {
  /**
   * Rungs above the first bound (log2 of ε/ε₀; for "patch", of the mask area) at which the
   * class's trigger sends `crossing` of the other classes' images to it, interpolated between
   * rungs on the logit of the share; past the last rung tried (a lower bound) when it never got
   * there.
   */
  level: number;
  /** False when the class never reached `crossing`: its level is only a lower bound. */
  crossed: boolean;
  /** Share of the other classes' images sent to the class at each bound tried, in order. */
  shares: number[];
}

/** What {@link searchTargets} found. */
export interface TargetSearch {
  /** The shape of the triggers searched. */
  pattern: SearchPattern;
  /** Each class's cost, by class index. */
  costs: ClassCost[];
  /** The cheapest class's trigger at the last bound it was tried at (the scan's picture). */
  trigger: HostTrigger;
  /** Every class's trigger at the last bound it was tried at. */
  triggers: HostTrigger[];
  /** Its share of the other classes' images at that bound. */
  triggerShare: number;
  /** The class with the lowest level. */
  cheapest: number;
  /** Anomaly index of each class: (median − level) / (1.4826 · MAD), large when it needs less. */
  anomaly: number[];
  /** Wall-clock time of the search. */
  seconds: number;
}

/** Other-class images each class's share is measured on, at most. */
export const EVAL_IMAGES = 160;

/** Anomaly index on the low side (Neural Cleanse's, over levels): large when a class needs less. */
export function anomalyIndex(levels: readonly number[], madFloor = MAD_FLOOR): number[] {
  const med = median(levels);
  const mad = Math.max(median(levels.map((x) => Math.abs(x - med))), madFloor);
  return levels.map((x) => (med - x) / (1.4826 * mad));
}

/**
 * The anomaly index from which a class counts as a backdoor's target (Neural Cleanse's 2);
 * docs/scan.md has the zoo it was measured on.
 */
export const ANOMALY_THRESHOLD = 2;

/** The verdict the evidence supports. */
export interface TargetVerdict {
  /** "backdoored" when the cheapest class's anomaly index reaches the threshold. */
  verdict: "backdoored" | "no evidence";
  /** The suspected target when the verdict is "backdoored", else null. */
  target: number | null;
  /** The suspect's anomaly index, pooled over the shapes where that is higher. */
  score: number;
}

/** What the verdict reads of one shape's search (scan-zoo.ts rebuilds it from stored levels). */
export type ShapeEvidence = Pick<TargetSearch, "pattern" | "anomaly" | "cheapest">;

/**
 * The verdict of the searches: backdoored toward the suspect of `s` (its cheapest class) when
 * that class's {@link suspectScore} over `searches` reaches `threshold`.
 */
export function targetVerdict(
  s: ShapeEvidence,
  threshold = ANOMALY_THRESHOLD,
  searches: readonly ShapeEvidence[] = [s],
): TargetVerdict {
  const score = suspectScore(searches, s);
  return score >= threshold
    ? { verdict: "backdoored", target: s.cheapest, score }
    : { verdict: "no evidence", target: null, score };
}

/**
 * Class k's anomaly indices under every shape, pooled (Stouffer's Σ z / √n). A planted trigger
 * tends to make its target cheap under every shape that can approximate it (a blend's column means
 * still lead to the target), while a clean model's cheap classes tend to be shape-specific: on the
 * eleven clean models of the zoo no class is the cheapest of both shapes (docs/scan.md, "Pooling
 * the shapes", with the held-out round that judged it).
 */
export function pooledAnomaly(searches: readonly ShapeEvidence[], k: number): number {
  return searches.reduce((a, s) => a + s.anomaly[k], 0) / Math.sqrt(searches.length);
}

/**
 * The evidence against the cheapest class of `s`: its own anomaly index, or its pooled one over
 * all the shapes searched when that is higher. Only a shape's cheapest class is ever a suspect,
 * so pooling can raise a score but cannot name a class no shape singled out.
 */
export function suspectScore(searches: readonly ShapeEvidence[], s: ShapeEvidence): number {
  return Math.max(s.anomaly[s.cheapest], pooledAnomaly(searches, s.cheapest));
}

/**
 * The smallest MAD, in rungs. On the lab's clean models the classes' levels lie so close together
 * (MAD 0.08–0.18 rung, varying by that much between seeds and between clean variants of one
 * model) that the model's sink, 0.26–0.43 rung cheaper than the median, scored up to 2.2; a
 * floor at the top of that range asks a target to be ≥ 0.59 rung (ε × 1.5) cheaper than the
 * median before it counts. Planted targets were 0.70–2.34 rung cheaper (docs/scan.md).
 */
export const MAD_FLOOR = 0.2;

/**
 * The MAD floor of each trigger shape. A 1-D pattern reaches some classes more easily than
 * others on a clean model (vertical stripes look like trousers): there the clean models' cheapest
 * class lay 0.38–0.60 rung under the median, so the floor asks for more (docs/scan.md).
 */
export const MAD_FLOORS: Record<SearchPattern, number> = {
  full: MAD_FLOOR,
  columns: 0.3,
  rows: 0.3,
  patch: MAD_FLOOR,
};

/**
 * The shape stage 1 inverts its trigger in, once `decided` named the suspect: any δ ("full")
 * when the full search's cheapest class is that suspect too (it can express every trigger,
 * stripes included, and it is what stage 1 used before there were shapes); else the deciding
 * shape. SIG's stripes are found as a columns pattern while the full search points elsewhere;
 * there a full δ aimed at the suspect takes a generic route of its own, and prompts tuned
 * against it leave the backdoor in place (docs/method.md, "SIG"). A "patch" decision also
 * inverts a full δ: aimed at the suspect, the ε ladder climbs until it takes the images, and a
 * full δ at that bound can draw the patch (the torch BadNet model purifies that way).
 */
export function inversionPattern(
  searches: readonly TargetSearch[],
  decided: TargetSearch,
): TriggerPattern {
  const full = searches.find((s) => s.pattern === "full");
  if (decided.pattern === "patch") return "full";
  return full && full.cheapest === decided.cheapest ? "full" : decided.pattern;
}

/**
 * The search whose cheapest class has the most evidence ({@link suspectScore}; the first on a
 * tie, so "full" wins a tie): each shape is a test of its own, and a backdoor needs to stand out
 * in one of them.
 */
export function strongestSearch<S extends ShapeEvidence>(searches: readonly S[]): S {
  if (searches.length === 0) throw new Error("strongestSearch: no search");
  return searches.reduce((a, b) => suspectScore(searches, b) > suspectScore(searches, a) ? b : a);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/**
 * Where the share crosses `at`, in rungs, from the shares at rungs 0, 1, …: linear in the logit
 * of the share between the last rung below and the first at or above (shares clipped by half an
 * image, `n` images). Past the last rung (not crossed): its index + 1.
 */
export function crossingLevel(shares: readonly number[], at: number, n: number): number {
  const eps = 0.5 / Math.max(n, 1);
  const logit = (p: number) => {
    const q = Math.min(1 - eps, Math.max(eps, p));
    return Math.log(q / (1 - q));
  };
  const k = shares.findIndex((s) => s >= at);
  if (k < 0) return shares.length;
  if (k === 0) return 0;
  const a = logit(shares[k - 1]), b = logit(shares[k]), t = logit(at);
  return k - 1 + (b > a ? (t - a) / (b - a) : 1);
}

/**
 * Projects a mask onto {0 ≤ m ≤ 1, Σm ≤ area} in place (Euclidean: m − θ clipped, θ found by
 * bisection): the "patch" shape's bound after every step.
 */
export function projectMaskArea(m: Float32Array, area: number): void {
  let sum = 0;
  for (let i = 0; i < m.length; i++) sum += m[i] = Math.min(1, Math.max(0, m[i]));
  if (sum <= area) return;
  let lo = 0, hi = 1;
  for (let it = 0; it < 40; it++) {
    const th = (lo + hi) / 2;
    let t = 0;
    for (let i = 0; i < m.length; i++) t += Math.min(1, Math.max(0, m[i] - th));
    if (t > area) lo = th;
    else hi = th;
  }
  for (let i = 0; i < m.length; i++) m[i] = Math.max(0, m[i] - hi);
}

/**
 * Inverts one targeted trigger per class, all classes in one batch, climbing the bound ladder
 * (the area ladder for "patch"); a class leaves the batch once it reaches `crossing`.
 */
export async function searchTargets(
  clip: Clip,
  set: ImageSet,
  labels: readonly number[],
  classText: Tensor,
  settings: TargetSearchSettings,
  seed: number,
  io: { progress?: Progress; pattern?: SearchPattern } = {},
): Promise<TargetSearch> {
  const pattern = io.pattern ?? "full", patch = pattern === "patch";
  const t0 = performance.now();
  const C = classText.shape[0], R = set.size, P = R * R, m = 3 * P;
  const rand = mulberry32(seed);
  const scale = Math.exp((await clip.param("logit_scale").toArray())[0]);
  const others = Array.from(
    { length: C },
    (_, c) => labels.map((y, i) => (y === c ? -1 : i)).filter((i) => i >= 0),
  );
  // Shares are measured on at most EVAL_IMAGES of the other classes' images per class (all of
  // them for 10 classes × 16 shots), a fixed draw, so that 1,000 classes stay affordable.
  const evalOn = others.map((o) =>
    o.length <= EVAL_IMAGES ? o : shuffleInPlace([...o], rand).slice(0, EVAL_IMAGES)
  );
  // Classes are optimised in groups whose batch fits the image tower's chunk (x2: the tower
  // holds its activations for backward anyway); 10 classes of 8 images are one group.
  const group = Math.max(1, Math.floor((2 * imageChunk(clip)) / settings.batchPerClass));
  const shares: number[][] = Array.from({ length: C }, () => []);
  const ladder = patch ? settings.patchAreas : settings.bounds;
  // Each class's trigger, warm-started from rung to rung: the additive δ in its pattern's shape,
  // or the patch's mask (R × R, Σ = the first area) and pattern logits (3 × R × R, p = σ).
  const pshape = patch ? [1, R, R] : patternShape(pattern as TriggerPattern, R);
  const pm = pshape.reduce((a, b) => a * b, 1);
  const deltas = Array.from(
    { length: C },
    () => new Float32Array(pm).fill(patch ? ladder[0] : 0),
  );
  const logits = patch
    ? Array.from(
      { length: C },
      () => Float32Array.from({ length: m }, () => 0.2 * (2 * rand() - 1)),
    )
    : [];
  const totalSteps = ladder.length * settings.stepsPerBound;
  let done = 0;

  /** One rung for `active` classes at `bound`: optimise (in groups), then measure shares. */
  const rung = async (active: number[], bound: number, label: string): Promise<number[]> => {
    for (let g = 0; g < active.length; g += group) {
      await optimise(active.slice(g, g + group), bound, label);
    }
    return await measureShares(active, bound);
  };

  /** stepsPerBound Adam steps of the classes' triggers at `bound` (an ε or an area). */
  const optimise = async (active: number[], bound: number, label: string): Promise<void> => {
    const K = active.length, B = settings.batchPerClass;
    const init = new Float32Array(K * pm);
    active.forEach((c, j) => init.set(deltas[c], j * pm));
    const delta = Tensor.from(init, [K, 1, ...pshape], { requiresGrad: true });
    const params = [delta];
    if (patch) {
      const l0 = new Float32Array(K * m);
      active.forEach((c, j) => l0.set(logits[c], j * m));
      params.push(Tensor.from(l0, [K, 1, 3, R, R], { requiresGrad: true }));
    }
    const opt = patch
      ? new Adam(params, { lr: settings.patchLr })
      : new Adam(params, { lr: settings.lrScale * bound, project: linfBall(bound) });
    const targets = active.flatMap((c) => Array(B).fill(c));
    try {
      for (let s = 1; s <= settings.stepsPerBound; s++) {
        const idx = active.flatMap((c) =>
          Array.from({ length: B }, () => others[c][Math.floor(rand() * others[c].length)])
        );
        const batch = subset(set, idx);
        tidy(() => {
          const x = reshape(Tensor.from(batch.pixels, [K * B, 3, R, R]), [K, B, 3, R, R]);
          const xt = reshape(
            patch ? add(x, mul(delta, sub(sigmoid(params[1]), x))) : clamp(add(x, delta), 0, 1),
            [K * B, 3, R, R],
          );
          const f = encodePixels(clip, xt);
          const loss = crossEntropy(mul(matmul(f, classText, { transB: true }), scale), targets);
          loss.backward();
          opt.step();
          opt.zeroGrad();
        });
        if (patch) {
          // Projected on the host: the masks are small (R × R a class), and on the GPU the
          // bisection would be ~30 rounds of dispatches a step (where + a per-class sum).
          const [mask] = await readTensors([delta]);
          for (let j = 0; j < K; j++) {
            projectMaskArea(mask.subarray(j * pm, (j + 1) * pm), bound * P);
          }
          delta.write(mask);
        }
        done++;
        io.progress?.(...progressLine(label, done, Math.max(done, totalSteps), null, t0));
      }
      const host = await readTensors(params);
      active.forEach((c, j) => {
        deltas[c] = host[0].slice(j * pm, (j + 1) * pm);
        if (patch) logits[c] = host[1].slice(j * m, (j + 1) * m);
      });
    } finally {
      for (const p of params) p.dispose();
      opt.dispose();
    }
  };

  /** Class c's trigger on the host. */
  const hostTrigger = (c: number, bound: number): HostTrigger =>
    patch
      ? {
        kind: "mask",
        size: R,
        mask: deltas[c],
        pattern: logits[c].map((v) => 1 / (1 + Math.exp(-v))),
      }
      : {
        kind: "additive",
        size: R,
        epsilon: bound,
        delta: expandPattern(pattern as TriggerPattern, deltas[c], R),
      };

  /** Each class's share of its evaluation images sent to it (forward only, chunked). */
  const measureShares = async (active: number[], bound: number): Promise<number[]> => {
    const n = active.reduce((a, c) => a + evalOn[c].length, 0);
    const pix = new Float32Array(n * m);
    let at = 0;
    for (const c of active) {
      const t = hostTrigger(c, bound);
      for (const i of evalOn[c]) {
        const src = set.pixels.subarray(i * m, (i + 1) * m), dst = pix.subarray(at * m);
        if (t.kind === "additive") {
          for (let q = 0; q < m; q++) dst[q] = Math.min(1, Math.max(0, src[q] + t.delta[q]));
        } else {
          for (let q = 0; q < m; q++) dst[q] = src[q] + t.mask[q % P] * (t.pattern[q] - src[q]);
        }
        at++;
      }
    }
    const preds = await predictClasses(clip, { pixels: pix, n, size: R }, classText);
    at = 0;
    return active.map((c) => {
      let hit = 0;
      for (let q = 0; q < evalOn[c].length; q++) if (preds[at + q] === c) hit++;
      at += evalOn[c].length;
      return hit / evalOn[c].length;
    });
  };

  let active = Array.from({ length: C }, (_, c) => c).filter((c) => others[c].length > 0);
  let tried = 0;
  for (const bound of ladder) {
    if (active.length === 0) break;
    tried++;
    const shape = pattern === "full" ? "" : `${pattern}, `;
    const at = patch ? `area ${formatArea(bound, R)}` : `ε ${formatEpsilon(bound)}`;
    const label = `stage 1 (per-class triggers, ${shape}${at}, ${active.length} classes)`;
    const got = await rung(active, bound, label);
    active.forEach((c, j) => shares[c].push(got[j]));
    active = active.filter((_, j) => got[j] < settings.crossing);
  }
  const costs: ClassCost[] = shares.map((sh, c) => {
    const crossed = sh.some((s) => s >= settings.crossing);
    // A class that left early is padded with its last share (it stopped climbing).
    const level = crossed
      ? crossingLevel(sh, settings.crossing, evalOn[c].length)
      : Math.max(tried, sh.length);
    return { level, crossed, shares: sh };
  });
  const anomaly = anomalyIndex(costs.map((c) => c.level), MAD_FLOORS[pattern]);
  let cheapest = 0;
  for (let c = 1; c < C; c++) if (costs[c].level < costs[cheapest].level) cheapest = c;

  const boundOf = (c: number) => ladder[Math.max(shares[c].length - 1, 0)];
  return {
    pattern,
    costs,
    trigger: hostTrigger(cheapest, boundOf(cheapest)),
    triggers: deltas.map((_, c) => hostTrigger(c, boundOf(c))),
    triggerShare: costs[cheapest].shares.at(-1) ?? 0,
    cheapest,
    anomaly,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** A mask area (a fraction of the image) as "0.78 % (8 px)" at resolution R. */
export function formatArea(fraction: number, R: number): string {
  const px = fraction * R * R;
  return `${+(100 * fraction).toPrecision(2)} % (${+px.toPrecision(2)} px)`;
}
