// Reductions along one axis. The tensor is viewed as [outer, R, inner]; one invocation per
// (outer, inner) pair walks R in order, so results are deterministic.

import type { Kernel } from "../runtime.ts";
import { uniformLayout } from "../uniforms.ts";
import { main1d, storage } from "./common.ts";

const AXIS_U = uniformLayout({ n: "u32", R: "u32", inner: "u32", scale: "f32" });

/** out[o, j] = scale · Σ_r x[o, r, j] (scale = 1 for sum, 1/R for mean). */
export function sumAxis(): Kernel<typeof AXIS_U> {
  return {
    name: "sum_axis.forward",
    bindings: ["read", "rw"],
    uniforms: AXIS_U,
    code: `${AXIS_U.wgsl}
${storage(["X", "f32", "read"], ["Y", "f32", "rw"])}
${
      main1d(`  let o = i / u.inner; let j = i % u.inner;
  var base = o * u.R * u.inner + j;
  var acc = 0.0;
  for (var r = 0u; r < u.R; r++) { acc += X[base + r * u.inner]; }
  Y[i] = acc * u.scale;`)
    }`,
  };
}

/** out[o, j] = max_r x[o, r, j] and the first r reaching it. NaN wins, as in PyTorch. */
export function maxAxis(): Kernel<typeof AXIS_U> {
  return {
    name: "max_axis.forward",
    bindings: ["read", "rw", "rw"],
    uniforms: AXIS_U,
    code: `${AXIS_U.wgsl}
${storage(["X", "f32", "read"], ["Y", "f32", "rw"], ["Idx", "u32", "rw"])}
${
      main1d(`  let o = i / u.inner; let j = i % u.inner;
  let base = o * u.R * u.inner + j;
  var best = X[base];
  var arg = 0u;
  for (var r = 1u; r < u.R; r++) {
    let v = X[base + r * u.inner];
    if (v > best || (v != v && best == best)) { best = v; arg = r; }
  }
  Y[i] = best;
  Idx[i] = arg;`)
    }`,
  };
}

/** dx[o, r, j] = r == idx[o, j] ? dy[o, j] : 0 (n = size of x). */
export function maxAxisBackward(): Kernel<typeof AXIS_U> {
  return {
    name: "max_axis.backward",
    bindings: ["read", "read", "rw"],
    uniforms: AXIS_U,
    code: `${AXIS_U.wgsl}
${storage(["DY", "f32", "read"], ["Idx", "u32", "read"], ["DX", "f32", "rw"])}
${
      main1d(`  let j = i % u.inner;
  let r = (i / u.inner) % u.R;
  let o = i / (u.inner * u.R);
  let k = o * u.inner + j;
  DX[i] = select(0.0, DY[k], Idx[k] == r);`)
    }`,
  };
}
