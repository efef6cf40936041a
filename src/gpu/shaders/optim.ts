// Optimiser updates, in place on the parameter and its state (one invocation per element).
// Scalars that depend on the step (bias corrections, scheduled lr) come in the uniform.

import type { Kernel } from "../runtime.ts";
import { uniformLayout } from "../uniforms.ts";
import { main1d, storage } from "./common.ts";

const SGD_U = uniformLayout({ n: "u32", lr: "f32", momentum: "f32", wd: "f32", first: "u32" });

/** PyTorch SGD: d = g + wd·p; m = μ·m + d (m = d at step 1); p -= lr·m (nesterov off). */
export function sgdStep(): Kernel<typeof SGD_U> {
  return {
    name: "optim.sgd",
    bindings: ["rw", "read", "rw"],
    uniforms: SGD_U,
    code: `${SGD_U.wgsl}
${storage(["P", "f32", "rw"], ["G", "f32", "read"], ["Mom", "f32", "rw"])}
${
      main1d(`  let d = G[i] + u.wd * P[i];
  var m = d;
  if (u.momentum != 0.0 && u.first == 0u) { m = u.momentum * Mom[i] + d; }
  Mom[i] = m;
  P[i] = P[i] - u.lr * m;`)
    }`,
  };
}

/** bc1, bc2: the bias corrections 1 - β^t. */
const ADAM_U = uniformLayout({
  n: "u32",
  lr: "f32",
  b1: "f32",
  b2: "f32",
  eps: "f32",
  wd: "f32",
  bc1: "f32",
  bc2: "f32",
  decoupled: "u32",
});

/** Adam (decoupled = 0: wd added to g) or AdamW (decoupled = 1: p -= lr·wd·p first). */
export function adamStep(): Kernel<typeof ADAM_U> {
  return {
    name: "optim.adam",
    bindings: ["rw", "read", "rw", "rw"],
    uniforms: ADAM_U,
    code: `${ADAM_U.wgsl}
${storage(["P", "f32", "rw"], ["G", "f32", "read"], ["M1", "f32", "rw"], ["M2", "f32", "rw"])}
${
      main1d(`  var p = P[i];
  var gr = G[i]; // not \`g\`: that names main1d's global_invocation_id
  if (u.decoupled != 0u) { p = p * (1.0 - u.lr * u.wd); } else { gr = gr + u.wd * p; }
  let m = u.b1 * M1[i] + (1.0 - u.b1) * gr;
  let v = u.b2 * M2[i] + (1.0 - u.b2) * gr * gr;
  M1[i] = m;
  M2[i] = v;
  P[i] = p - u.lr * (m / u.bc1) / (sqrt(v / u.bc2) + u.eps);`)
    }`,
  };
}

const CLAMP_U = uniformLayout({ n: "u32", lo: "f32", hi: "f32" });

/** p = clamp(p, lo, hi): projection onto an L∞ ball (or any box) after a step. */
export function clampInPlace(): Kernel<typeof CLAMP_U> {
  return {
    name: "optim.clamp_in_place",
    bindings: ["rw"],
    uniforms: CLAMP_U,
    code: `${CLAMP_U.wgsl}
${storage(["P", "f32", "rw"])}
${main1d(`  P[i] = clamp(P[i], u.lo, u.hi);`)}`,
  };
}

const CHECK_U = uniformLayout({ n: "u32", slot: "u32" });

/** Sets flags[slot] = 1 if any of the n words is a NaN or Inf bit pattern (debug mode). */
export function nonFiniteCheck(): Kernel<typeof CHECK_U> {
  return {
    name: "debug.non_finite_check",
    bindings: ["read", "rw"],
    uniforms: CHECK_U,
    code: `${CHECK_U.wgsl}
${storage(["X", "u32", "read"], ["Flags", "u32", "rw"])}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) l: vec3u) {
  var bad = 0u;
  for (var i = l.x; i < u.n; i += 64u) {
    if ((X[i] & 0x7f800000u) == 0x7f800000u) { bad = 1u; }
  }
  if (bad != 0u) { Flags[u.slot] = 1u; }
}`,
  };
}
