// Matmul kernels: C[b] = A[b] · B[b], A [M, K], B [K, N], row-major, batch strides may be 0.
//
// `tiledMatmul` is the register-tiled kernel measured in ../shared/docs/webgpu-feasibility.md:
// each invocation keeps a TM × TN block of C in vec4 registers, with no workgroup memory and no
// barriers (both are very slow on llvmpipe, where every storage load costs ~1.5 ns and FLOPs per
// load decide the speed). It needs K % 4 == 0 and N % 4 == 0; rows past M are clamped on load
// and skipped on store, columns past N likewise, so any M and N work.
//
// `stridedMatmul` is the general fallback: any strides (so transposed operands cost nothing),
// any K and N, a 4 × 4 block per invocation with scalar loads.

import type { Kernel } from "../runtime.ts";
import { storage, uniforms } from "./common.ts";

export interface TileShape {
  TM: number;
  TN: number;
  /** Invocations per workgroup (1-D, along columns). */
  WG: number;
}

const TILED_U = uniforms("M: u32", "K: u32", "N: u32", "sa: u32", "sb: u32", "sc: u32");

export function tiledMatmul({ TM, TN, WG }: TileShape): Kernel {
  if (TN % 4 !== 0) throw new Error("tiledMatmul: TN must be a multiple of 4");
  const TN4 = TN / 4;
  const rows: string[] = [];
  const decl: string[] = [];
  const body: string[] = [];
  const stores: string[] = [];
  for (let i = 0; i < TM; i++) {
    rows.push(`let ar${i} = ao + min(m0 + ${i}u, u.M - 1u) * k4n;`);
    for (let j = 0; j < TN4; j++) decl.push(`var c${i}_${j} = vec4f(0.0);`);
    body.push(`let a${i} = A[ar${i} + k4];`);
  }
  for (let j = 0; j < TN4; j++) rows.push(`let bc${j} = bo + min(cb + ${j}u, n4 - 1u);`);
  for (let kk = 0; kk < 4; kk++) {
    for (let j = 0; j < TN4; j++) body.push(`let b${kk}_${j} = B[bc${j} + (k + ${kk}u) * n4];`);
  }
  const comp = ["x", "y", "z", "w"];
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN4; j++) {
      for (let kk = 0; kk < 4; kk++) {
        body.push(`c${i}_${j} = fma(vec4f(a${i}.${comp[kk]}), b${kk}_${j}, c${i}_${j});`);
      }
    }
  }
  for (let i = 0; i < TM; i++) {
    const st: string[] = [];
    for (let j = 0; j < TN4; j++) {
      st.push(`if (cb + ${j}u < n4) { C[co + (m0 + ${i}u) * n4 + cb + ${j}u] = c${i}_${j}; }`);
    }
    stores.push(`if (m0 + ${i}u < u.M) { ${st.join(" ")} }`);
  }
  return {
    name: `matmul.tiled_${TM}x${TN}_wg${WG}`,
    bindings: ["read", "read", "rw"],
    code: `${TILED_U}
${storage(["A", "vec4f", "read"], ["B", "vec4f", "read"], ["C", "vec4f", "rw"])}
@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let n4 = u.N / 4u; let k4n = u.K / 4u;
  let cb = g.x * ${TN4}u;
  let m0 = g.y * ${TM}u;
  let bt = g.z;
  if (cb >= n4 || m0 >= u.M) { return; }
  let ao = bt * u.sa; let bo = bt * u.sb; let co = bt * u.sc;
  ${rows.join("\n  ")}
  ${decl.join("\n  ")}
  for (var k = 0u; k < u.K; k += 4u) {
    let k4 = k / 4u;
    ${body.join("\n    ")}
  }
  ${stores.join("\n  ")}
}`,
  };
}

export function tiledGrid(t: TileShape, M: number, N: number, batch: number): [number, number, number] {
  return [Math.ceil(N / t.TN / t.WG), Math.ceil(M / t.TM), batch];
}

const STRIDED_U = uniforms(
  "M: u32",
  "K: u32",
  "N: u32",
  "aRow: u32",
  "aCol: u32",
  "aBatch: u32",
  "bRow: u32",
  "bCol: u32",
  "bBatch: u32",
  "cBatch: u32",
);

export const STRIDED_WG = 64;

export function stridedMatmul(): Kernel {
  return {
    name: "matmul.strided_4x4",
    bindings: ["read", "read", "rw"],
    code: `${STRIDED_U}
${storage(["A", "f32", "read"], ["B", "f32", "read"], ["C", "f32", "rw"])}
@compute @workgroup_size(${STRIDED_WG}, 1, 1)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let n0 = g.x * 4u; let m0 = g.y * 4u; let bt = g.z;
  if (n0 >= u.N || m0 >= u.M) { return; }
  var acc: array<vec4f, 4>;
  let ao = bt * u.aBatch; let bo = bt * u.bBatch;
  var ar: array<u32, 4>; var bc: array<u32, 4>;
  for (var t = 0u; t < 4u; t++) {
    ar[t] = ao + min(m0 + t, u.M - 1u) * u.aRow;
    bc[t] = bo + min(n0 + t, u.N - 1u) * u.bCol;
  }
  for (var k = 0u; k < u.K; k++) {
    let b = vec4f(B[bc[0] + k * u.bRow], B[bc[1] + k * u.bRow], B[bc[2] + k * u.bRow], B[bc[3] + k * u.bRow]);
    for (var t = 0u; t < 4u; t++) { acc[t] = fma(vec4f(A[ar[t] + k * u.aCol]), b, acc[t]); }
  }
  let co = bt * u.cBatch;
  for (var t = 0u; t < 4u; t++) {
    let m = m0 + t;
    if (m >= u.M) { break; }
    for (var s = 0u; s < 4u; s++) {
      if (n0 + s < u.N) { C[co + m * u.N + n0 + s] = acc[t][s]; }
    }
  }
}`,
  };
}

export function stridedGrid(M: number, N: number, batch: number): [number, number, number] {
  return [Math.ceil(N / 4 / STRIDED_WG), Math.ceil(M / 4), batch];
}

/** Textbook kernel, one output per invocation: the baseline that bench/matmul.ts compares to. */
export function naiveMatmul(): Kernel {
  return {
    name: "matmul.naive",
    bindings: ["read", "read", "rw"],
    code: `${TILED_U}
${storage(["A", "f32", "read"], ["B", "f32", "read"], ["C", "f32", "rw"])}
@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let n = g.x; let m = g.y; let bt = g.z;
  if (m >= u.M || n >= u.N) { return; }
  var acc = 0.0;
  for (var k = 0u; k < u.K; k++) { acc += A[bt * u.sa + m * u.K + k] * B[bt * u.sb + k * u.N + n]; }
  C[bt * u.sc + m * u.N + n] = acc;
}`,
  };
}
