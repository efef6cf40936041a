// How far any text-side defence can go on a model's image features. Prompts (CBPT, CoOp) only
// move the class vectors w_c of a linear classifier over frozen, L2-normalised image features, so
// no prompt can beat the best *free* head: unit vectors w_c fitted directly on the few-shot clean
// features and the same images' triggered features, both labelled with their true class. Its CA
// and ASR on the test set bound what prompt tuning can reach with that trigger (with the true
// trigger: the oracle bound). Plain TypeScript: C·E numbers, a few thousand full-batch steps.

/** Rows of L2-normalised features, flat [n, dim]. */
export interface Features {
  data: Float32Array;
  dim: number;
  labels: readonly number[];
}

export interface HeadBoundOptions {
  /** Logit scale of the cross-entropy (argmax does not depend on it; the fit does). */
  scale: number;
  steps: number;
  lr: number;
  /** Weight of the triggered features' cross-entropy against the clean one. */
  lambdaBd: number;
}

export const HEAD_BOUND_DEFAULTS: HeadBoundOptions = {
  scale: 30,
  steps: 3000,
  lr: 0.5,
  lambdaBd: 1,
};

export interface HeadBound {
  /** Clean accuracy of the fitted head on the test set. */
  ca: number;
  /** Share of triggered non-target test images it sends to the target. */
  asr: number;
  /** Share of triggered test images (all classes) it puts in their true class. */
  triggeredAcc: number;
  /** The fitted unit class vectors, [C, dim]. */
  head: Float32Array;
}

const dot = (a: Float32Array, i: number, b: Float32Array, j: number, d: number) => {
  let s = 0;
  for (let k = 0; k < d; k++) s += a[i * d + k] * b[j * d + k];
  return s;
};

function classMeans(f: Features, classes: number): Float32Array {
  const w = new Float32Array(classes * f.dim);
  f.labels.forEach((y, i) => {
    for (let k = 0; k < f.dim; k++) w[y * f.dim + k] += f.data[i * f.dim + k];
  });
  return w;
}

function predict(head: Float32Array, classes: number, f: Features): number[] {
  return f.labels.map((_, i) => {
    let best = 0, bestS = -Infinity;
    for (let c = 0; c < classes; c++) {
      const s = dot(f.data, i, head, c, f.dim);
      if (s > bestS) [best, bestS] = [c, s];
    }
    return best;
  });
}

/**
 * Fits unit class vectors by gradient descent on CE(scale·z·ŵ_c) over `trainClean` plus
 * `lambdaBd`·CE over `trainTrig` (true labels), from the clean class means, and scores them.
 */
export function freeHeadBound(
  trainClean: Features,
  trainTrig: Features,
  testClean: Features,
  testTrig: Features,
  classes: number,
  target: number,
  options: Partial<HeadBoundOptions> = {},
): HeadBound {
  const o = { ...HEAD_BOUND_DEFAULTS, ...options };
  const d = trainClean.dim;
  for (const f of [trainTrig, testClean, testTrig]) {
    if (f.dim !== d) throw new Error(`freeHeadBound: feature sizes differ (${f.dim} vs ${d})`);
  }
  const w = classMeans(trainClean, classes);
  const sets: [Features, number][] = [[trainClean, 1], [trainTrig, o.lambdaBd]];
  const n = trainClean.labels.length + trainTrig.labels.length;
  const logits = new Float64Array(classes);
  for (let step = 0; step < o.steps; step++) {
    const norms = Array.from({ length: classes }, (_, c) => Math.sqrt(dot(w, c, w, c, d)) || 1);
    const grad = new Float64Array(classes * d);
    for (const [f, weight] of sets) {
      if (weight === 0) continue;
      f.labels.forEach((y, i) => {
        let max = -Infinity;
        for (let c = 0; c < classes; c++) {
          logits[c] = (o.scale * dot(f.data, i, w, c, d)) / norms[c];
          max = Math.max(max, logits[c]);
        }
        let z = 0;
        for (let c = 0; c < classes; c++) z += logits[c] = Math.exp(logits[c] - max);
        for (let c = 0; c < classes; c++) {
          // d/dw_c of scale·x·w_c/|w_c| is scale·(x − (x·ŵ_c)ŵ_c)/|w_c|.
          const g = (weight * (logits[c] / z - (c === y ? 1 : 0)) * o.scale) / norms[c] / n;
          const proj = dot(f.data, i, w, c, d) / (norms[c] * norms[c]);
          for (let k = 0; k < d; k++) {
            grad[c * d + k] += g * (f.data[i * d + k] - proj * w[c * d + k]);
          }
        }
      });
    }
    for (let k = 0; k < w.length; k++) w[k] -= o.lr * grad[k];
  }
  for (let c = 0; c < classes; c++) {
    const norm = Math.sqrt(dot(w, c, w, c, d)) || 1;
    for (let k = 0; k < d; k++) w[c * d + k] /= norm;
  }
  const clean = predict(w, classes, testClean);
  const trig = predict(w, classes, testTrig);
  const nonTarget = testTrig.labels.map((y, i) => (y === target ? -1 : i)).filter((i) => i >= 0);
  return {
    ca: clean.filter((p, i) => p === testClean.labels[i]).length / clean.length,
    asr: nonTarget.filter((i) => trig[i] === target).length / Math.max(1, nonTarget.length),
    triggeredAcc: trig.filter((p, i) => p === testTrig.labels[i]).length / trig.length,
    head: w,
  };
}
