// Elementwise kernels: unary ops as a table (forward and backward side by side), binary and
// ternary ops with broadcasting through strides, a general strided copy, fill.

import type { Kernel } from "../runtime.ts";
import { uniformLayout } from "../uniforms.ts";
import { at8, main1d, storage } from "./common.ts";

/**
 * Unary ops. `fwd` is an expression in `x` and the scalar parameters `p0`, `p1`;
 * `bwd` gives dL/dx from `x`, the forward output `y`, the incoming gradient `dy`, and p0/p1.
 */
export const UNARY = {
  neg: { fwd: "-x", bwd: "-dy" },
  exp: { fwd: "exp(x)", bwd: "dy * y" },
  log: { fwd: "log(x)", bwd: "dy / x" },
  sqrt: { fwd: "sqrt(x)", bwd: "dy * 0.5 / y" },
  pow: { fwd: "powf(x, p0)", bwd: "dy * p0 * powf(x, p0 - 1.0)" },
  tanh: { fwd: "tanhf(x)", bwd: "dy * (1.0 - y * y)" },
  sigmoid: { fwd: "sigm(x)", bwd: "dy * y * (1.0 - y)" },
  relu: { fwd: "max(x, 0.0)", bwd: "select(0.0, dy, x > 0.0)" },
  quickGelu: {
    fwd: "x * sigm(1.702 * x)",
    bwd: "dy * (sigm(1.702 * x) + 1.702 * x * sigm(1.702 * x) * (1.0 - sigm(1.702 * x)))",
  },
  gelu: {
    fwd: "0.5 * x * (1.0 + erff(x * 0.70710678118654752))",
    bwd: "dy * (0.5 * (1.0 + erff(x * 0.70710678118654752)) + " +
      "x * exp(-0.5 * x * x) * 0.39894228040143268)",
  },
  clamp: { fwd: "clamp(x, p0, p1)", bwd: "select(0.0, dy, x >= p0 && x <= p1)" },
  affine: { fwd: "x * p0 + p1", bwd: "dy * p0" },
} as const;

export type UnaryName = keyof typeof UNARY;

// tanh and sigmoid written to stay finite for large |x|; erf by Abramowitz-Stegun 7.1.26
// (|error| < 1.5e-7); pow of a negative base with an integral exponent, as PyTorch does.
const MATH = `
fn sigm(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}
fn tanhf(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}
fn erff(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-x * x));
}
fn powf(x: f32, p: f32) -> f32 {
  if (p == 0.0) { return 1.0; }
  if (x >= 0.0) { return pow(x, p); }
  if (floor(p) != p) { return bitcast<f32>(0x7fc00000u); }
  let r = pow(-x, p);
  return select(r, -r, (i32(p) & 1) == 1);
}`;

const UNARY_U = uniformLayout({ n: "u32", p0: "f32", p1: "f32" });

export function unaryForward(name: UnaryName): Kernel<typeof UNARY_U> {
  return {
    name: `${name}.forward`,
    bindings: ["read", "rw"],
    uniforms: UNARY_U,
    code: `${UNARY_U.wgsl}
${storage(["X", "f32", "read"], ["Y", "f32", "rw"])}
${MATH}
${main1d(`  let x = X[i]; let p0 = u.p0; let p1 = u.p1;\n  Y[i] = ${UNARY[name].fwd};`)}`,
  };
}

export function unaryBackward(name: UnaryName): Kernel<typeof UNARY_U> {
  return {
    name: `${name}.backward`,
    bindings: ["read", "read", "read", "rw"],
    uniforms: UNARY_U,
    code: `${UNARY_U.wgsl}
${storage(["X", "f32", "read"], ["Yv", "f32", "read"], ["DY", "f32", "read"], ["DX", "f32", "rw"])}
${MATH}
${
      main1d(
        `  let x = X[i]; let y = Yv[i]; let dy = DY[i]; let p0 = u.p0; let p1 = u.p1;
  _ = y; _ = p1;
  DX[i] = ${UNARY[name].bwd};`,
      )
    }`,
  };
}

export const BINARY = {
  add: "a + b",
  sub: "a - b",
  mul: "a * b",
  div: "a / b",
  eq: "select(0.0, 1.0, a == b)",
  gt: "select(0.0, 1.0, a > b)",
} as const;
export type BinaryName = keyof typeof BINARY;

/** Broadcasting kernels: output shape, and the strides of up to three inputs (binary: sa, sb). */
const BCAST_U = uniformLayout({
  n: "u32",
  rank: "u32",
  shape: "array<vec4u, 2>",
  sa: "array<vec4u, 2>",
  sb: "array<vec4u, 2>",
  sc: "array<vec4u, 2>",
});

/** Offsets of flat output index i into inputs with strides sa, sb (and sc), by decomposition. */
function offsets(names: string[]): string {
  const decl = names.map((s) => `  var o${s} = 0u;`).join("\n");
  const acc = names.map((s) => `o${s} += c * ${at8(s, "d")};`).join(" ");
  return `${decl}
  var rem = i;
  for (var k = 0u; k < u.rank; k++) {
    let d = u.rank - 1u - k;
    let dim = ${at8("shape", "d")};
    let c = rem % dim;
    rem = rem / dim;
    ${acc}
  }`;
}

/** The binary ops that have a vec4 form (the comparisons' select needs a vector form of its own). */
export const VEC4_BINARY: readonly BinaryName[] = ["add", "sub", "mul", "div"];

/**
 * out = a (op) b; `broadcast` false when both inputs already have the output's shape. `vec4`:
 * four elements an invocation, the innermost axis read as vec4s (the host passes the shape with
 * that axis / 4 and every stride in vec4s). On the software adapter the index decomposition's
 * integer divisions, not the arithmetic, were the cost of a broadcast add (docs/performance.md);
 * there one decomposition serves four elements, and each load brings four.
 */
export function binary(name: BinaryName, broadcast: boolean, vec4 = false): Kernel<typeof BCAST_U> {
  if (vec4 && !VEC4_BINARY.includes(name)) throw new Error(`binary: ${name} has no vec4 form`);
  const t = vec4 ? "vec4f" : "f32";
  const body = broadcast
    ? `${offsets(["sa", "sb"])}\n  let a = A[osa]; let b = B[osb];\n  C[i] = ${BINARY[name]};`
    : `  let a = A[i]; let b = B[i];\n  C[i] = ${BINARY[name]};`;
  return {
    name: `${name}.${broadcast ? "bcast" : "same"}${vec4 ? "4" : ""}`,
    bindings: ["read", "read", "rw"],
    uniforms: BCAST_U,
    code: `${BCAST_U.wgsl}
${storage(["A", t, "read"], ["B", t, "read"], ["C", t, "rw"])}
${main1d(body)}`,
  };
}

/** out = cond != 0 ? a : b, all three broadcast to the output. */
export function where(): Kernel<typeof BCAST_U> {
  return {
    name: "where.forward",
    bindings: ["read", "read", "read", "rw"],
    uniforms: BCAST_U,
    code: `${BCAST_U.wgsl}
${storage(["Cd", "f32", "read"], ["A", "f32", "read"], ["B", "f32", "read"], ["Out", "f32", "rw"])}
${main1d(`${offsets(["sa", "sb", "sc"])}\n  Out[i] = select(B[osc], A[osb], Cd[osa] != 0.0);`)}`,
  };
}

/** Strided copy: sa, sb are the source and destination strides. */
const COPY_U = uniformLayout({
  n: "u32",
  rank: "u32",
  srcOff: "u32",
  dstOff: "u32",
  shape: "array<vec4u, 2>",
  sa: "array<vec4u, 2>",
  sb: "array<vec4u, 2>",
});

/**
 * The one movement kernel: for every index of `shape`, dst[dstOff + idx·dstStrides] =
 * src[srcOff + idx·srcStrides]. Serves permute, slice, broadcast, concat and their gradients.
 * Copies 32-bit words, so it moves f32 and i32 alike; `vec4`: four words an invocation (the
 * innermost axis contiguous on both sides, everything in vec4s; see `binary`).
 */
export function stridedCopy(vec4 = false): Kernel<typeof COPY_U> {
  const t = vec4 ? "vec4u" : "u32";
  return {
    name: `strided_copy${vec4 ? "4" : ""}`,
    bindings: ["read", "rw"],
    uniforms: COPY_U,
    code: `${COPY_U.wgsl}
${storage(["Src", t, "read"], ["Dst", t, "rw"])}
${main1d(`${offsets(["sa", "sb"])}\n  Dst[u.dstOff + osb] = Src[u.srcOff + osa];`)}`,
  };
}

/**
 * A transpose of the last two axes, 4 × 4 words per invocation: four vec4 reads down the source's
 * contiguous axis, four vec4 writes along the destination's. The host passes the index space in
 * 4 × 4 blocks ([..., P/4, Q/4]) and strides in vec4s; the last source stride and the second-last
 * destination stride, divided by 4, step between the block's four reads and four writes.
 */
export function transposeCopy4(): Kernel<typeof COPY_U> {
  const rows = ["x", "y", "z", "w"].map((c, r) =>
    `Dst[u.dstOff + osb + ${r}u * dp] = vec4u(v0.${c}, v1.${c}, v2.${c}, v3.${c});`
  );
  return {
    name: "transpose_copy4",
    bindings: ["read", "rw"],
    uniforms: COPY_U,
    code: `${COPY_U.wgsl}
${storage(["Src", "vec4u", "read"], ["Dst", "vec4u", "rw"])}
${
      main1d(`${offsets(["sa", "sb"])}
  let sq = ${at8("sa", "(u.rank - 1u)")} / 4u; let dp = ${at8("sb", "(u.rank - 2u)")} / 4u;
  let s0 = u.srcOff + osa;
  let v0 = Src[s0]; let v1 = Src[s0 + sq]; let v2 = Src[s0 + 2u * sq]; let v3 = Src[s0 + 3u * sq];
  ${rows.join("\n  ")}`)
    }`,
  };
}

const FILL_U = uniformLayout({ n: "u32", value: "u32" });

/** Every word of Y set to `value`; `vec4`: four words an invocation (n counts vec4s). */
export function fill(vec4 = false): Kernel<typeof FILL_U> {
  return {
    name: `fill${vec4 ? "4" : ""}`,
    bindings: ["rw"],
    uniforms: FILL_U,
    code: `${FILL_U.wgsl}
${storage(["Y", vec4 ? "vec4u" : "u32", "rw"])}
${main1d(`  Y[i] = ${vec4 ? "vec4u(u.value)" : "u.value"};`)}`,
  };
}
