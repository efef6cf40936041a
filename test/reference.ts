// Plain-TypeScript float64 reference of every op: the oracle for forward values, and (through
// central finite differences) for gradients. Deliberately naive: clarity over speed.

export interface Arr {
  data: Float64Array;
  shape: number[];
}

export const arr = (data: ArrayLike<number>, shape: number[]): Arr => ({
  data: Float64Array.from(data),
  shape: [...shape],
});

const size = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

export function strides(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let d = shape.length - 2; d >= 0; d--) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function map(x: Arr, f: (v: number) => number): Arr {
  return { data: x.data.map(f), shape: [...x.shape] };
}

/** erf to ~1e-12 (series below 3, continued fraction above). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax, sum = ax;
    for (let n = 1; n < 120; n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x²)/(x√π) · 1/(1 + 1/(2x²)/(1 + 2/(2x²)/(1 + ...)))
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (ax * ax) / (1 + f);
  const erfc = Math.exp(-ax * ax) / (ax * Math.sqrt(Math.PI)) / (1 + f);
  return Math.sign(x) * (1 - erfc);
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
export const UNARY_REF: Record<string, (x: number, p0: number, p1: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  pow: (x, p) => x ** p,
  tanh: Math.tanh,
  sigmoid,
  relu: (x) => Math.max(x, 0),
  quickGelu: (x) => x * sigmoid(1.702 * x),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  clamp: (x, lo, hi) => Math.min(Math.max(x, lo), hi),
  affine: (x, s, t) => x * s + t,
};

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error("no broadcast");
    out.push(Math.max(da, db) === 1 ? 1 : da === 1 ? db : da);
  }
  return out;
}

function bcastIndex(idx: number[], shape: readonly number[]): number {
  const s = strides(shape);
  const lead = idx.length - shape.length;
  let o = 0;
  for (let d = 0; d < shape.length; d++) o += (shape[d] === 1 ? 0 : idx[d + lead]) * s[d];
  return o;
}

export function zip(xs: Arr[], f: (...v: number[]) => number): Arr {
  const shape = xs.map((x) => x.shape).reduce((a, b) => broadcastShape(a, b));
  const n = size(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    data[i] = f(...xs.map((x) => x.data[bcastIndex(idx, x.shape)]));
  }
  return { data, shape };
}

/** op(a) · op(b) over the last two axes; batch axes equal or one side 2-D. */
export function matmul(a: Arr, b: Arr, transA = false, transB = false): Arr {
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const [M, K] = transA ? [ac, ar] : [ar, ac];
  const N = transB ? br : bc;
  const batchShape = a.shape.length > 2 ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
  const batch = size(batchShape);
  const out = new Float64Array(batch * M * N);
  for (let t = 0; t < batch; t++) {
    const ao = a.shape.length > 2 ? t * ar * ac : 0, bo = b.shape.length > 2 ? t * br * bc : 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const av = a.data[ao + (transA ? k * ac + m : m * ac + k)];
          const bv = b.data[bo + (transB ? n * bc + k : k * bc + n)];
          acc += av * bv;
        }
        out[t * M * N + m * N + n] = acc;
      }
    }
  }
  return { data: out, shape: [...batchShape, M, N] };
}

/** Applies f to each row (last axis). `f` gets the row and its index; returns the new row. */
export function rows(x: Arr, f: (row: Float64Array, r: number) => ArrayLike<number>): Arr {
  const N = x.shape[x.shape.length - 1];
  const R = x.data.length / N;
  const outRows: ArrayLike<number>[] = [];
  for (let r = 0; r < R; r++) outRows.push(f(x.data.subarray(r * N, (r + 1) * N), r));
  const M = outRows[0]?.length ?? 0;
  const data = new Float64Array(R * M);
  outRows.forEach((row, r) => data.set(row, r * M));
  return { data, shape: M === N ? [...x.shape] : [...x.shape.slice(0, -1), M] };
}

export function softmax(x: Arr, log = false, causal = false): Arr {
  const N = x.shape[x.shape.length - 1];
  return rows(x, (row, r) => {
    const lim = causal ? (r % N) + 1 : N;
    let m = -Infinity;
    for (let j = 0; j < lim; j++) m = Math.max(m, row[j]);
    let s = 0;
    for (let j = 0; j < lim; j++) s += Math.exp(row[j] - m);
    return Array.from(
      row,
      (v, j) => j >= lim ? (log ? -Infinity : 0) : log ? v - m - Math.log(s) : Math.exp(v - m) / s,
    );
  });
}

export function layerNorm(x: Arr, w: Arr, b: Arr, eps = 1e-5): Arr {
  return rows(x, (row) => {
    const n = row.length;
    const mean = row.reduce((p, v) => p + v, 0) / n;
    const v = row.reduce((p, q) => p + (q - mean) ** 2, 0) / n;
    const rstd = 1 / Math.sqrt(v + eps);
    return Array.from(row, (q, j) => (q - mean) * rstd * w.data[j] + b.data[j]);
  });
}

export function l2Normalize(x: Arr, eps = 1e-12): Arr {
  return rows(x, (row) => {
    const n = Math.max(Math.sqrt(row.reduce((p, v) => p + v * v, 0)), eps);
    return Array.from(row, (v) => v / n);
  });
}

export function crossEntropy(x: Arr, labels: number[], reduction: "mean" | "none" = "mean"): Arr {
  const per = rows(x, (row, r) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((p, v) => p + Math.exp(v - m), 0));
    return [lse - row[labels[r]]];
  });
  if (reduction === "none") return { data: per.data, shape: [labels.length] };
  return { data: Float64Array.of(per.data.reduce((p, v) => p + v, 0) / labels.length), shape: [] };
}

export function reduceAxis(x: Arr, axis: number, kind: "sum" | "mean" | "max", keep = false): Arr {
  const shape = x.shape;
  const outer = size(shape.slice(0, axis)), R = shape[axis], inner = size(shape.slice(axis + 1));
  const data = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let acc = kind === "max" ? -Infinity : 0;
      for (let r = 0; r < R; r++) {
        const v = x.data[(o * R + r) * inner + j];
        acc = kind === "max" ? Math.max(acc, v) : acc + v;
      }
      data[o * inner + j] = kind === "mean" ? acc / R : acc;
    }
  }
  const out = keep ? shape.map((d, i) => (i === axis ? 1 : d)) : shape.filter((_, i) => i !== axis);
  return { data, shape: out };
}

export function permute(x: Arr, perm: number[]): Arr {
  const shape = perm.map((p) => x.shape[p]);
  const s = strides(x.shape);
  const data = new Float64Array(x.data.length);
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    let o = 0;
    idx.forEach((v, d) => (o += v * s[perm[d]]));
    data[i] = x.data[o];
  }
  return { data, shape };
}

export function slice(x: Arr, axis: number, start: number, end: number): Arr {
  const shape = x.shape.map((d, i) => (i === axis ? end - start : d));
  const s = strides(x.shape);
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    idx[axis] += start;
    data[i] = x.data[idx.reduce((p, v, d) => p + v * s[d], 0)];
  }
  return { data, shape };
}

export function concat(xs: Arr[], axis: number): Arr {
  const shape = xs[0].shape.map((
    d,
    i,
  ) => (i === axis ? xs.reduce((p, x) => p + x.shape[axis], 0) : d));
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    let k = 0, at = idx[axis];
    while (at >= xs[k].shape[axis]) at -= xs[k++].shape[axis];
    const s = strides(xs[k].shape);
    idx[axis] = at;
    data[i] = xs[k].data[idx.reduce((p, v, d) => p + v * s[d], 0)];
  }
  return { data, shape };
}

export function gatherRows(table: Arr, ids: number[]): Arr {
  const D = table.shape[1];
  const data = new Float64Array(ids.length * D);
  ids.forEach((v, r) => data.set(table.data.subarray(v * D, (v + 1) * D), r * D));
  return { data, shape: [ids.length, D] };
}

/** Direct convolution with stride = kernel, no padding: [B,C,H,W] * [D,C,P,P] → [B, L, D]. */
export function patchConv(x: Arr, w: Arr): Arr {
  const [B, C, H, W] = x.shape, [D, , P] = w.shape;
  const gh = H / P, gw = W / P;
  const data = new Float64Array(B * gh * gw * D);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < gh; i++) {
      for (let j = 0; j < gw; j++) {
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let c = 0; c < C; c++) {
            for (let p = 0; p < P; p++) {
              for (let q = 0; q < P; q++) {
                acc += x.data[((b * C + c) * H + i * P + p) * W + j * P + q] *
                  w.data[((d * C + c) * P + p) * P + q];
              }
            }
          }
          data[((b * gh + i) * gw + j) * D + d] = acc;
        }
      }
    }
  }
  return { data, shape: [B, gh * gw, D] };
}
