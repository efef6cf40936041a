// The op test harness: GPU forward against the float64 reference, and GPU gradients against
// central finite differences of that reference (per element on a sample, plus one random
// direction over all elements).

import { mul, readTensors, sum, Tensor, tidy } from "../mod.ts";
import { type Arr, arr } from "./reference.ts";
import { assertAllClose, type CloseOptions, type Rng, rng, worstMismatch } from "./helpers.ts";

export interface InputSpec {
  shape: number[];
  /** Value generator (default: standard normal). */
  gen?: (r: Rng, i: number) => number;
  /** Differentiate with respect to this input (default true). */
  grad?: boolean;
}

export interface OpCase {
  name: string;
  inputs: InputSpec[];
  gpu: (...ts: Tensor[]) => Tensor;
  ref: (...xs: Arr[]) => Arr;
  /** Forward tolerance, GPU f32 against f64 (default atol 1e-5, rtol 1e-4). */
  fwd?: CloseOptions;
  /** Gradient tolerance against finite differences (default atol 2e-4, rtol 2e-3). */
  grad?: CloseOptions;
  /** Elements per input checked one by one (default 40; all when the input is smaller). */
  samples?: number;
  seed?: number;
}

function lossRef(c: OpCase, xs: Arr[], w: Float64Array): number {
  const y = c.ref(...xs).data;
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * w[i];
  return s;
}

export async function checkOp(c: OpCase): Promise<void> {
  const r = rng(c.seed ?? 1234);
  const values = c.inputs.map((s) => {
    const n = s.shape.reduce((p, d) => p * d, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = s.gen ? s.gen(r, i) : r.normal();
    return v;
  });
  const xs = values.map((v, i) => arr(v, c.inputs[i].shape));
  const yRef = c.ref(...xs);
  const w = Float64Array.from({ length: yRef.data.length }, () => r.normal());
  const wantGrad = c.inputs.map((s) => s.grad !== false);
  const ts = values.map((v, i) => Tensor.from(v, c.inputs[i].shape, { requiresGrad: wantGrad[i] }));
  const W = Tensor.from(Float32Array.from(w), yRef.shape);
  const y = tidy(() => {
    const y = c.gpu(...ts);
    if (wantGrad.some((g) => g)) sum(mul(y, W)).backward();
    return y;
  });
  try {
    if (y.shape.join() !== yRef.shape.join()) {
      throw new Error(`${c.name}: output shape [${y.shape}] != reference [${yRef.shape}]`);
    }
    const withGrad = ts.filter((_, i) => wantGrad[i]);
    const [yv, ...grads] = await readTensors([y, ...withGrad.map((t) => t.grad!)]);
    assertAllClose(yv, yRef.data, { atol: 1e-5, rtol: 1e-4, ...c.fwd, name: `${c.name} forward` });

    const tol = { atol: 2e-4, rtol: 2e-3, ...c.grad };
    let gi = 0;
    let dirAnalytic = 0, dirScale = 0;
    const dirs: Float64Array[] = [];
    for (let k = 0; k < xs.length; k++) {
      if (!wantGrad[k]) {
        dirs.push(new Float64Array(xs[k].data.length));
        continue;
      }
      const g = grads[gi++];
      const x = xs[k];
      const n = x.data.length;
      const picks = n <= (c.samples ?? 40)
        ? [...Array(n).keys()]
        : [0, n - 1, ...Array.from({ length: (c.samples ?? 40) - 2 }, () => r.int(n))];
      const fd: number[] = [], got: number[] = [];
      for (const i of picks) {
        const x0 = x.data[i];
        const h = 1e-5 * Math.max(1, Math.abs(x0));
        x.data[i] = x0 + h;
        const lp = lossRef(c, xs, w);
        x.data[i] = x0 - h;
        const lm = lossRef(c, xs, w);
        x.data[i] = x0;
        fd.push((lp - lm) / (2 * h));
        got.push(g[i]);
      }
      const bad = worstMismatch(got, fd, tol.atol, tol.rtol);
      if (bad) {
        throw new Error(
          `${c.name}: gradient of input ${k} [${x.shape}] at element ${picks[bad.index]}: ` +
            `GPU ${bad.a}, finite differences ${bad.e} (atol ${tol.atol}, rtol ${tol.rtol})`,
        );
      }
      const v = Float64Array.from({ length: n }, () => r.normal());
      dirs.push(v);
      for (let i = 0; i < n; i++) {
        dirAnalytic += g[i] * v[i];
        dirScale += Math.abs(g[i] * v[i]);
      }
    }
    // One random direction over every element of every input at once.
    const h = 1e-6;
    const plain = (sgn: number) =>
      xs.map((x, k) => ({ data: x.data.map((q, i) => q + sgn * h * dirs[k][i]), shape: x.shape }));
    const dirFd = (lossRef(c, plain(1), w) - lossRef(c, plain(-1), w)) / (2 * h);
    const dirTol = tol.atol * Math.sqrt(dirs.reduce((p, d) => p + d.length, 0)) +
      tol.rtol * Math.max(dirScale, Math.abs(dirFd));
    if (wantGrad.some((g) => g) && !(Math.abs(dirAnalytic - dirFd) <= dirTol)) {
      throw new Error(
        `${c.name}: directional derivative ${dirAnalytic} vs finite differences ${dirFd} ` +
          `(tolerance ${dirTol})`,
      );
    }
  } finally {
    y.dispose();
    W.dispose();
    for (const t of ts) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}
