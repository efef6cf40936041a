// Row-wise fat ops, each with its forward and backward kernels side by side (llm.c style).
// A "row" is the last axis; one invocation owns one row, so sums are ordered and deterministic.

import type { Kernel } from "../runtime.ts";
import { uniformLayout } from "../uniforms.ts";
import { main1d, storage } from "./common.ts";

const ROW_WG = 64;
const NEG_INF = "bitcast<f32>(0xff800000u)";

// ---- softmax / log-softmax over the last axis, optional causal mask -------------------------
// With `causal`, row i of each [T, T] block sees columns 0..(i mod T): CLIP's text mask.

const SOFTMAX_U = uniformLayout({ n: "u32", N: "u32", causal: "u32" });
const VALID = `  let base = i * u.N;
  var lim = u.N;
  if (u.causal != 0u) { lim = min(u.N, (i % u.N) + 1u); }`;

export function softmaxForward(log: boolean): Kernel<typeof SOFTMAX_U> {
  const name = log ? "log_softmax" : "softmax";
  const write = log
    ? `Y[base + j] = select(${NEG_INF}, X[base + j] - m - log(s), j < lim);`
    : `Y[base + j] = select(0.0, exp(X[base + j] - m) / s, j < lim);`;
  return {
    name: `${name}.forward`,
    bindings: ["read", "rw"],
    uniforms: SOFTMAX_U,
    code: `${SOFTMAX_U.wgsl}
${storage(["X", "f32", "read"], ["Y", "f32", "rw"])}
${
      main1d(
        `${VALID}
  var m = ${NEG_INF};
  for (var j = 0u; j < lim; j++) { m = max(m, X[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < lim; j++) { s += exp(X[base + j] - m); }
  for (var j = 0u; j < u.N; j++) { ${write} }`,
        ROW_WG,
      )
    }`,
  };
}

export function softmaxBackward(log: boolean): Kernel<typeof SOFTMAX_U> {
  const name = log ? "log_softmax" : "softmax";
  // softmax: dx = y (dy - Σ dy·y);  log-softmax: dx = dy - exp(y) Σ dy
  const dot = log ? "acc += DY[base + j];" : "acc += DY[base + j] * Y[base + j];";
  const write = log
    ? "DX[base + j] = select(0.0, DY[base + j] - exp(Y[base + j]) * acc, j < lim);"
    : "DX[base + j] = select(0.0, Y[base + j] * (DY[base + j] - acc), j < lim);";
  return {
    name: `${name}.backward`,
    bindings: ["read", "read", "rw"],
    uniforms: SOFTMAX_U,
    code: `${SOFTMAX_U.wgsl}
${storage(["Y", "f32", "read"], ["DY", "f32", "read"], ["DX", "f32", "rw"])}
${
      main1d(
        `${VALID}
  var acc = 0.0;
  for (var j = 0u; j < lim; j++) { ${dot} }
  for (var j = 0u; j < u.N; j++) { ${write} }`,
        ROW_WG,
      )
    }`,
  };
}

// ---- layer norm: y = (x - mean) · rstd · w + b, stats = (mean, rstd) per row ---------------

const LN_U = uniformLayout({ n: "u32", N: "u32", eps: "f32" });
const LN_PARAMS_U = uniformLayout({ n: "u32", rows: "u32" });

export function layerNormForward(): Kernel<typeof LN_U> {
  return {
    name: "layer_norm.forward",
    bindings: ["read", "read", "read", "rw", "rw"],
    uniforms: LN_U,
    code: `${LN_U.wgsl}
${
      storage(
        ["X", "f32", "read"],
        ["W", "f32", "read"],
        ["B", "f32", "read"],
        ["Y", "f32", "rw"],
        ["Stats", "f32", "rw"],
      )
    }
${
      main1d(
        `  let base = i * u.N;
  var s = 0.0;
  for (var j = 0u; j < u.N; j++) { s += X[base + j]; }
  let mean = s / f32(u.N);
  var v = 0.0;
  for (var j = 0u; j < u.N; j++) { let d = X[base + j] - mean; v += d * d; }
  let rstd = inverseSqrt(v / f32(u.N) + u.eps);
  for (var j = 0u; j < u.N; j++) { Y[base + j] = (X[base + j] - mean) * rstd * W[j] + B[j]; }
  Stats[2u * i] = mean;
  Stats[2u * i + 1u] = rstd;`,
        ROW_WG,
      )
    }`,
  };
}

/** dx = rstd (dxh - mean(dxh) - xh · mean(dxh · xh)), dxh = dy · w. */
export function layerNormBackwardInput(): Kernel<typeof LN_U> {
  return {
    name: "layer_norm.backward_input",
    bindings: ["read", "read", "read", "read", "rw"],
    uniforms: LN_U,
    code: `${LN_U.wgsl}
${
      storage(
        ["X", "f32", "read"],
        ["W", "f32", "read"],
        ["Stats", "f32", "read"],
        ["DY", "f32", "read"],
        ["DX", "f32", "rw"],
      )
    }
${
      main1d(
        `  let base = i * u.N;
  let mean = Stats[2u * i]; let rstd = Stats[2u * i + 1u];
  var m1 = 0.0; var m2 = 0.0;
  for (var j = 0u; j < u.N; j++) {
    let dxh = DY[base + j] * W[j];
    m1 += dxh;
    m2 += dxh * (X[base + j] - mean) * rstd;
  }
  m1 = m1 / f32(u.N); m2 = m2 / f32(u.N);
  for (var j = 0u; j < u.N; j++) {
    let xh = (X[base + j] - mean) * rstd;
    DX[base + j] = rstd * (DY[base + j] * W[j] - m1 - xh * m2);
  }`,
        ROW_WG,
      )
    }`,
  };
}

/** One invocation per column: dw = Σ_rows dy · xh, db = Σ_rows dy (n = N columns). */
export function layerNormBackwardParams(): Kernel<typeof LN_PARAMS_U> {
  return {
    name: "layer_norm.backward_params",
    bindings: ["read", "read", "read", "rw", "rw"],
    uniforms: LN_PARAMS_U,
    code: `${LN_PARAMS_U.wgsl}
${
      storage(
        ["X", "f32", "read"],
        ["Stats", "f32", "read"],
        ["DY", "f32", "read"],
        ["DW", "f32", "rw"],
        ["DB", "f32", "rw"],
      )
    }
${
      main1d(
        `  var dw = 0.0; var db = 0.0;
  for (var r = 0u; r < u.rows; r++) {
    let k = r * u.n + i;
    let xh = (X[k] - Stats[2u * r]) * Stats[2u * r + 1u];
    dw += DY[k] * xh;
    db += DY[k];
  }
  DW[i] = dw;
  DB[i] = db;`,
        ROW_WG,
      )
    }`,
  };
}

// ---- L2 normalise: y = x / max(‖x‖, eps), norm saved per row -------------------------------

const L2_U = uniformLayout({ n: "u32", N: "u32", eps: "f32" });

export function l2NormalizeForward(): Kernel<typeof L2_U> {
  return {
    name: "l2_normalize.forward",
    bindings: ["read", "rw", "rw"],
    uniforms: L2_U,
    code: `${L2_U.wgsl}
${storage(["X", "f32", "read"], ["Y", "f32", "rw"], ["Norm", "f32", "rw"])}
${
      main1d(
        `  let base = i * u.N;
  var s = 0.0;
  for (var j = 0u; j < u.N; j++) { s += X[base + j] * X[base + j]; }
  let nrm = sqrt(s);
  let d = max(nrm, u.eps);
  for (var j = 0u; j < u.N; j++) { Y[base + j] = X[base + j] / d; }
  Norm[i] = nrm;`,
        ROW_WG,
      )
    }`,
  };
}

/** Above eps: dx = (dy - y Σ dy·y) / ‖x‖; below it the map is x/eps, so dx = dy/eps. */
export function l2NormalizeBackward(): Kernel<typeof L2_U> {
  return {
    name: "l2_normalize.backward",
    bindings: ["read", "read", "read", "rw"],
    uniforms: L2_U,
    code: `${L2_U.wgsl}
${
      storage(["Y", "f32", "read"], ["Norm", "f32", "read"], ["DY", "f32", "read"], [
        "DX",
        "f32",
        "rw",
      ])
    }
${
      main1d(
        `  let base = i * u.N;
  let nrm = Norm[i];
  if (nrm <= u.eps) {
    for (var j = 0u; j < u.N; j++) { DX[base + j] = DY[base + j] / u.eps; }
    return;
  }
  var acc = 0.0;
  for (var j = 0u; j < u.N; j++) { acc += DY[base + j] * Y[base + j]; }
  for (var j = 0u; j < u.N; j++) { DX[base + j] = (DY[base + j] - Y[base + j] * acc) / nrm; }`,
        ROW_WG,
      )
    }`,
  };
}

// ---- cross-entropy from logits: loss_r = logsumexp(x_r) - x_r[label_r] ----------------------

const CE_U = uniformLayout({ n: "u32", N: "u32" });

export function crossEntropyForward(): Kernel<typeof CE_U> {
  return {
    name: "cross_entropy.forward",
    bindings: ["read", "read", "rw", "rw"],
    uniforms: CE_U,
    code: `${CE_U.wgsl}
${
      storage(["X", "f32", "read"], ["Label", "i32", "read"], ["Loss", "f32", "rw"], [
        "Lse",
        "f32",
        "rw",
      ])
    }
${
      main1d(
        `  let base = i * u.N;
  var m = ${NEG_INF};
  for (var j = 0u; j < u.N; j++) { m = max(m, X[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < u.N; j++) { s += exp(X[base + j] - m); }
  let lse = m + log(s);
  let c = Label[i];
  var picked = bitcast<f32>(0x7fc00000u); // NaN for a label out of range
  if (c >= 0 && u32(c) < u.N) { picked = X[base + u32(c)]; }
  Loss[i] = lse - picked;
  Lse[i] = lse;`,
        ROW_WG,
      )
    }`,
  };
}

/** dx[r, j] = (softmax(x_r)_j - [j == label_r]) · g_r (n = rows · N). */
export function crossEntropyBackward(): Kernel<typeof CE_U> {
  return {
    name: "cross_entropy.backward",
    bindings: ["read", "read", "read", "read", "rw"],
    uniforms: CE_U,
    code: `${CE_U.wgsl}
${
      storage(
        ["X", "f32", "read"],
        ["Label", "i32", "read"],
        ["Lse", "f32", "read"],
        ["G", "f32", "read"],
        ["DX", "f32", "rw"],
      )
    }
${
      main1d(`  let r = i / u.N; let j = i % u.N;
  let onehot = select(0.0, 1.0, Label[r] == i32(j));
  DX[i] = (exp(X[i] - Lse[r]) - onehot) * G[r];`)
    }`,
  };
}
