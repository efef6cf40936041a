// Matmul kernels: C[b] = A[b] · B[b], A [M, K], B [K, N], row-major, batch strides may be 0.
//
// On llvmpipe (the software adapter) a storage load costs far more than arithmetic: each load
// runs a per-lane loop with a bounds check (~1.5 ns per vec4 per invocation). The 16 × 32 tile
// ran only ~1.4× faster with its FMAs removed, so loads are ~3/4 of its time and FLOPs per load
// (the register tile of one invocation) set the speed. Workgroup memory and barriers are no
// help (shared loads take the same per-lane path, barriers become coroutine switches). See
// docs/design/webgpu-feasibility.md.
//
// `tiledMatmul` keeps a TM × TN block of C in vec4 registers and per 4 values of k loads TM
// vec4 of A and TN vec4 of B for TM·TN vec4 FMAs. It needs K % 4 == 0 and N % 4 == 0; rows
// past M and columns past N are clamped on load and skipped on store, so any M and N work.
//
// `stridedMatmul` is the general kernel: any strides (so transposed operands are read in
// place), any M, K, N; scalar loads and a TM × TN register tile.
//
// Both number the output's tiles row-major and lay them out flat along x (the batch along z),
// so thin outputs (per-head attention: N = 64 or 77) still fill the 8 SIMD lanes.

import type { Kernel } from "../runtime.ts";
import { uniformLayout } from "../uniforms.ts";
import { storage } from "./common.ts";

export interface TileShape {
  TM: number;
  TN: number;
  /** Invocations per workgroup (1-D, along the flat tile index). */
  WG: number;
}

/** sa, sb, sc: batch strides of A, B and C. */
const TILED_U = uniformLayout({ M: "u32", K: "u32", N: "u32", sa: "u32", sb: "u32", sc: "u32" });

/**
 * The register-tiled kernel for K % 4 == 0 and N % 4 == 0 (uniforms: sa, sb, sc in vec4s).
 * `halfB`: B holds f16 pairs (`array<vec4u>`, 8 values per element, row-major [K, N/8]; needs
 * N % 8 == 0 and TN % 8 == 0). One load then brings 8 columns instead of 4, so a k-step of the
 * 26 × 24 tile loads 26 + 12 elements instead of 26 + 24: the loads, not the FMAs, bound the
 * speed here. `unpack2x16float` is core WGSL (no shader-f16 feature needed).
 * `bias`: a fourth binding, a row of N values added to every row of C as it is stored (a linear
 * layer's bias: the same sum as a separate add, without its pass over C).
 */
export function tiledMatmul(
  { TM, TN, WG }: TileShape,
  halfB = false,
  bias = false,
): Kernel<typeof TILED_U> {
  if (TN % (halfB ? 8 : 4) !== 0) {
    throw new Error(`tiledMatmul: TN must be a multiple of ${halfB ? 8 : 4}`);
  }
  const TN4 = TN / 4;
  const setup: string[] = [];
  const decl: string[] = [];
  const loads: string[] = [];
  const fmas: string[] = [];
  const stores: string[] = [];
  // Rows past M read row M-1 and columns past N read column N-1 (so every load is in bounds);
  // their results are not stored.
  for (let i = 0; i < TM; i++) {
    setup.push(`let ar${i} = ao + min(m0 + ${i}u, u.M - 1u) * k4n;`);
    loads.push(`let a${i} = A[ar${i} + k4];`);
    for (let j = 0; j < TN4; j++) decl.push(`var c${i}_${j} = vec4f(0.0);`);
  }
  // B's row stride in elements: vec4f (4 columns) or, for halfB, vec4u (8 columns).
  const [bw, bn] = halfB ? [TN4 / 2, "n8"] : [TN4, "n4"];
  if (halfB) setup.push("let n8 = u.N / 8u; let cb8 = cb / 2u;");
  for (let j = 0; j < bw; j++) {
    setup.push(`let bc${j} = bo + min(${halfB ? "cb8" : "cb"} + ${j}u, ${bn} - 1u);`);
  }
  // B rows k..k+3 start at br, br + bn, br + 2·bn, br + 3·bn (br advances by 4·bn per step).
  for (let kk = 0; kk < 4; kk++) {
    const row = kk === 0 ? "br" : `br${kk}`;
    if (kk > 0) loads.push(`let ${row} = br + ${kk === 1 ? bn : `${kk}u * ${bn}`};`);
    for (let j = 0; j < bw; j++) {
      if (!halfB) {
        loads.push(`let b${kk}_${j} = B[${row} + bc${j}];`);
        continue;
      }
      const h = `h${kk}_${j}`, up = (c: string) => `unpack2x16float(${h}.${c})`;
      loads.push(`let ${h} = B[${row} + bc${j}];`);
      loads.push(`let b${kk}_${2 * j} = vec4f(${up("x")}, ${up("y")});`);
      loads.push(`let b${kk}_${2 * j + 1} = vec4f(${up("z")}, ${up("w")});`);
    }
  }
  const comp = ["x", "y", "z", "w"];
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN4; j++) {
      for (let kk = 0; kk < 4; kk++) {
        fmas.push(`c${i}_${j} = fma(vec4f(a${i}.${comp[kk]}), b${kk}_${j}, c${i}_${j});`);
      }
    }
  }
  for (let i = 0; i < TM; i++) {
    const st: string[] = [];
    for (let j = 0; j < TN4; j++) {
      const v = bias ? `c${i}_${j} + Bias[cb + ${j}u]` : `c${i}_${j}`;
      st.push(`if (cb + ${j}u < n4) { C[cr + ${j}u] = ${v}; }`);
    }
    stores.push(`if (m0 + ${i}u < u.M) { let cr = co + (m0 + ${i}u) * n4 + cb; ${st.join(" ")} }`);
  }
  return {
    name: `matmul.tiled${halfB ? "_halfB" : ""}${bias ? "_bias" : ""}_${TM}x${TN}_wg${WG}`,
    bindings: bias ? ["read", "read", "rw", "read"] : ["read", "read", "rw"],
    uniforms: TILED_U,
    code: `${TILED_U.wgsl}
${
      storage(
        ["A", "vec4f", "read"],
        ["B", halfB ? "vec4u" : "vec4f", "read"],
        ["C", "vec4f", "rw"],
        ...(bias ? [["Bias", "vec4f", "read"] as ["Bias", string, "read"]] : []),
      )
    }
@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n4 = u.N / 4u; let k4n = u.K / 4u;
  let nct = (n4 + ${TN4 - 1}u) / ${TN4}u;
  let tile = g.x + g.y * nwg.x * ${WG}u;
  let rt = tile / nct;
  let m0 = rt * ${TM}u;
  if (m0 >= u.M) { return; }
  let cb = (tile - rt * nct) * ${TN4}u;
  let bt = g.z;
  let ao = bt * u.sa; let bo = bt * u.sb; let co = bt * u.sc;
  ${setup.join("\n  ")}
  ${decl.join("\n  ")}
  var br = 0u;
  for (var k4 = 0u; k4 < k4n; k4++) {
    ${loads.join("\n    ")}
    ${fmas.join("\n    ")}
    br += 4u * ${bn};
  }
  ${stores.join("\n  ")}
}`,
  };
}

/**
 * Workgroups for `tiledMatmul(t)`. The output's tiles are numbered row-major and laid out flat
 * along x (column tiles of one row band side by side, then the next band), so outputs with few
 * column tiles (N = 64: three) still fill the SIMD lanes; the batch goes along z.
 */
export function tiledGrid(
  t: TileShape,
  M: number,
  N: number,
  batch: number,
): [number, number, number] {
  const tiles = Math.ceil(M / t.TM) * Math.ceil(N / t.TN);
  return [Math.ceil(tiles / t.WG), 1, batch];
}

const STRIDED_U = uniformLayout({
  M: "u32",
  K: "u32",
  N: "u32",
  aRow: "u32",
  aCol: "u32",
  aBatch: "u32",
  bRow: "u32",
  bCol: "u32",
  bBatch: "u32",
  cBatch: "u32",
  batch: "u32",
});

/** Register tile of the strided kernel: TM × TN outputs per invocation, WG invocations. */
export const STRIDED_TILE: TileShape = { TM: 16, TN: 16, WG: 16 };

/**
 * The general kernel: element (m, k) of A sits at m·aRow + k·aCol (B likewise), so transposed
 * operands are read in place; any M, K, N. Scalar loads (nothing is known about alignment), a
 * TM × TN register tile per invocation. Tiles are numbered row-major over the output and laid
 * out flat along x, so that narrow outputs (N = 77: five column tiles) still fill the SIMD lanes.
 */
export function stridedMatmul(t: TileShape = STRIDED_TILE): Kernel<typeof STRIDED_U> {
  const { TM, TN, WG } = t;
  if (TN % 4 !== 0) throw new Error("stridedMatmul: TN must be a multiple of 4");
  const TN4 = TN / 4;
  const setup: string[] = [];
  const decl: string[] = [];
  const body: string[] = [];
  const stores: string[] = [];
  for (let i = 0; i < TM; i++) {
    setup.push(`let ar${i} = ao + min(m0 + ${i}u, u.M - 1u) * u.aRow;`);
    body.push(`let a${i} = vec4f(A[ar${i} + ak]);`);
    for (let q = 0; q < TN4; q++) decl.push(`var c${i}_${q} = vec4f(0.0);`);
  }
  for (let j = 0; j < TN; j++) {
    setup.push(`let bc${j} = bo + min(n0 + ${j}u, u.N - 1u) * u.bCol;`);
  }
  for (let q = 0; q < TN4; q++) {
    const b = [0, 1, 2, 3].map((s) => `B[bc${4 * q + s} + bk]`).join(", ");
    body.push(`let b${q} = vec4f(${b});`);
  }
  for (let i = 0; i < TM; i++) {
    for (let q = 0; q < TN4; q++) body.push(`c${i}_${q} = fma(a${i}, b${q}, c${i}_${q});`);
  }
  const comp = ["x", "y", "z", "w"];
  for (let i = 0; i < TM; i++) {
    const st: string[] = [];
    for (let j = 0; j < TN; j++) {
      st.push(`if (n0 + ${j}u < u.N) { C[cr + ${j}u] = c${i}_${j >> 2}.${comp[j & 3]}; }`);
    }
    stores.push(`if (m0 + ${i}u < u.M) { let cr = co + (m0 + ${i}u) * u.N + n0; ${st.join(" ")} }`);
  }
  return {
    name: `matmul.strided_${TM}x${TN}_wg${WG}`,
    bindings: ["read", "read", "rw"],
    uniforms: STRIDED_U,
    code: `${STRIDED_U.wgsl}
${storage(["A", "f32", "read"], ["B", "f32", "read"], ["C", "f32", "rw"])}
@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let nct = (u.N + ${TN - 1}u) / ${TN}u;
  let tpb = nct * ((u.M + ${TM - 1}u) / ${TM}u);
  let flat = g.x + g.y * nwg.x * ${WG}u;
  let bt = flat / tpb;
  if (bt >= u.batch) { return; }
  let tile = flat - bt * tpb;
  let rt = tile / nct;
  let m0 = rt * ${TM}u; let n0 = (tile - rt * nct) * ${TN}u;
  let ao = bt * u.aBatch; let bo = bt * u.bBatch; let co = bt * u.cBatch;
  ${setup.join("\n  ")}
  ${decl.join("\n  ")}
  var ak = 0u; var bk = 0u;
  for (var k = 0u; k < u.K; k++) {
    ${body.join("\n    ")}
    ak += u.aCol; bk += u.bRow;
  }
  ${stores.join("\n  ")}
}`,
  };
}

/**
 * Workgroups for `stridedMatmul(t)`: the output's tiles flat along x, batch after batch, so that
 * many small products (attention's per-head T × T scores: 4 tiles each at T = 17) share the
 * SIMD lanes of a workgroup instead of leaving most of them idle.
 */
export function stridedGrid(
  M: number,
  N: number,
  batch: number,
  t: TileShape = STRIDED_TILE,
): [number, number, number] {
  const tiles = batch * Math.ceil(M / t.TM) * Math.ceil(N / t.TN);
  return [Math.ceil(tiles / t.WG), 1, 1];
}

/** Textbook kernel, one output per invocation: the baseline that bench/matmul.ts compares to. */
export function naiveMatmul(): Kernel<typeof TILED_U> {
  return {
    name: "matmul.naive",
    bindings: ["read", "read", "rw"],
    uniforms: TILED_U,
    code: `${TILED_U.wgsl}
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
