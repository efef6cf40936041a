// Convolution kernels (channels-last, NHWC), pooling and inference batch norm.
//
// `implicitConv` is the register-tiled matmul of ./matmul.ts with its A operand gathered on the
// fly: Y[m, n] = Σ_k cols[m, k] · Wm[k, n], where row m is an output pixel (b, oy, ox), column
// k a tap and input channel (ky, kx, c) in that order, and cols[m, k] = X[b, oy·s - p + ky,
// ox·s - p + kx, c] (zero outside the image). Nothing is materialised: with the channels
// innermost, four consecutive k are four consecutive channels of one pixel, so each A load is
// one vec4 of X, and the bounds test runs once per tap and row, outside the channel loop. No
// workgroup memory, no barriers (see matmul.ts for why that suits llvmpipe). Needs C % 4 == 0
// and N % 4 == 0 (ops/conv.ts pads channels otherwise). Tiles are numbered flat along x, so
// narrow outputs (N = 64: two column tiles) still fill the SIMD lanes.
//
// The same kernel computes the input gradient of a stride-1 convolution (a convolution of dY
// with the flipped, transposed weights and padding k - 1 - p, possibly negative). Strided input
// gradients go through `col2im` (a gather over the taps that reach each input element), weight
// gradients through `im2colT` and a plain matmul.

import type { Kernel } from "../runtime.ts";
import { uniformLayout } from "../uniforms.ts";
import { main1d, storage } from "./common.ts";
import type { TileShape } from "./matmul.ts";

/** nct: column tiles; bias, relu, residual: the epilogue's switches. */
const CONV_U = uniformLayout({
  M: "u32",
  N: "u32",
  C4: "u32",
  nct: "u32",
  inH: "u32",
  inW: "u32",
  outH: "u32",
  outW: "u32",
  kh: "u32",
  kw: "u32",
  sh: "u32",
  sw: "u32",
  ph: "i32",
  pw: "i32",
  bias: "u32",
  relu: "u32",
  residual: "u32",
});

/**
 * Bindings: X (input, NHWC), Wm [kh·kw·C, N], Bias [N], Res [M, N], Y [M, N]. The store adds
 * Bias (when u.bias) and Res (when u.residual), then applies ReLU (when u.relu): the epilogue of
 * a frozen convolution + batch norm (+ residual) + ReLU. Unused bindings take any read buffer.
 */
export function implicitConv({ TM, TN, WG }: TileShape): Kernel<typeof CONV_U> {
  if (TN % 4 !== 0) throw new Error("implicitConv: TN must be a multiple of 4");
  const TN4 = TN / 4;
  const rows: string[] = [];
  const decl: string[] = [];
  const perKy: string[] = [];
  const perKx: string[] = [];
  const loads: string[] = [];
  const fmas: string[] = [];
  const stores: string[] = [];
  for (let i = 0; i < TM; i++) {
    // Rows past M repeat row M-1 (in bounds); their results are not stored.
    rows.push(
      `let mr${i} = min(m0 + ${i}u, u.M - 1u); let b${i} = mr${i} / hw; ` +
        `let r${i} = mr${i} - b${i} * hw; let oy${i} = r${i} / u.outW; ` +
        `let y0_${i} = i32(oy${i} * u.sh) - u.ph; ` +
        `let x0_${i} = i32((r${i} - oy${i} * u.outW) * u.sw) - u.pw; ` +
        `let pb${i} = b${i} * u.inH;`,
    );
    perKy.push(
      `let iy${i} = y0_${i} + i32(ky); let vy${i} = iy${i} >= 0 && iy${i} < i32(u.inH); ` +
        `let ry${i} = (pb${i} + u32(iy${i})) * u.inW;`,
    );
    perKx.push(
      `let ix${i} = x0_${i} + i32(kx); ` +
        `let ok${i} = vy${i} && ix${i} >= 0 && ix${i} < i32(u.inW); ` +
        `let ao${i} = select(0u, (ry${i} + u32(ix${i})) * u.C4, ok${i});`,
    );
    loads.push(`let a${i} = select(vec4f(0.0), X[ao${i} + c4], ok${i});`);
    for (let j = 0; j < TN4; j++) decl.push(`var c${i}_${j} = vec4f(0.0);`);
  }
  for (let j = 0; j < TN4; j++) {
    rows.push(`let bc${j} = min(cb + ${j}u, n4 - 1u);`);
    decl.push(`let bias${j} = select(vec4f(0.0), Bias[bc${j}], u.bias != 0u);`);
  }
  for (let kk = 0; kk < 4; kk++) {
    const row = kk === 0 ? "br" : `br${kk}`;
    if (kk > 0) loads.push(`let ${row} = br + ${kk === 1 ? "n4" : `${kk}u * n4`};`);
    for (let j = 0; j < TN4; j++) loads.push(`let w${kk}_${j} = Wm[${row} + bc${j}];`);
  }
  const comp = ["x", "y", "z", "w"];
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN4; j++) {
      for (let kk = 0; kk < 4; kk++) {
        fmas.push(`c${i}_${j} = fma(vec4f(a${i}.${comp[kk]}), w${kk}_${j}, c${i}_${j});`);
      }
    }
  }
  for (let i = 0; i < TM; i++) {
    const st: string[] = [];
    for (let j = 0; j < TN4; j++) {
      st.push(`if (cb + ${j}u < n4) { Y[cr + ${j}u] = out(c${i}_${j} + bias${j}, cr + ${j}u); }`);
    }
    stores.push(`if (m0 + ${i}u < u.M) { let cr = (m0 + ${i}u) * n4 + cb; ${st.join(" ")} }`);
  }
  return {
    name: `conv.implicit_${TM}x${TN}_wg${WG}`,
    bindings: ["read", "read", "read", "read", "rw"],
    uniforms: CONV_U,
    code: `${CONV_U.wgsl}
${
      storage(
        ["X", "vec4f", "read"],
        ["Wm", "vec4f", "read"],
        ["Bias", "vec4f", "read"],
        ["Res", "vec4f", "read"],
        ["Y", "vec4f", "rw"],
      )
    }
fn out(v: vec4f, at: u32) -> vec4f {
  var r = v;
  if (u.residual != 0u) { r += Res[at]; }
  if (u.relu != 0u) { r = max(r, vec4f(0.0)); }
  return r;
}
@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let tile = g.x + g.y * nwg.x * ${WG}u;
  let rt = tile / u.nct;
  let m0 = rt * ${TM}u;
  if (m0 >= u.M) { return; }
  let n4 = u.N / 4u;
  let cb = (tile - rt * u.nct) * ${TN4}u;
  let hw = u.outH * u.outW;
  ${rows.join("\n  ")}
  ${decl.join("\n  ")}
  var br = 0u;
  for (var ky = 0u; ky < u.kh; ky++) {
    ${perKy.join("\n    ")}
    for (var kx = 0u; kx < u.kw; kx++) {
      ${perKx.join("\n      ")}
      for (var c4 = 0u; c4 < u.C4; c4++) {
        ${loads.join("\n        ")}
        ${fmas.join("\n        ")}
        br += 4u * n4;
      }
    }
  }
  ${stores.join("\n  ")}
}`,
  };
}

/** Workgroups for `implicitConv(t)` over an M × N output: all tiles flat along x. */
export function implicitConvGrid(t: TileShape, M: number, N: number): [number] {
  const tiles = Math.ceil(M / t.TM) * Math.ceil(N / t.TN);
  return [Math.ceil(tiles / t.WG)];
}

// Geometry shared by the gather kernels: input [B, inH, inW, C], output pixels [B, outH, outW],
// taps kh × kw, stride, padding; K = kh · kw · C columns ordered (ky, kx, c).
const GEOM = {
  inH: "u32",
  inW: "u32",
  C: "u32",
  outH: "u32",
  outW: "u32",
  kh: "u32",
  kw: "u32",
  sh: "u32",
  sw: "u32",
  ph: "i32",
  pw: "i32",
} as const;
const IM2COL_U = uniformLayout({ n: "u32", Mc: "u32", m0: "u32", ...GEOM });
const COL2IM_U = uniformLayout({ n: "u32", b0: "u32", ...GEOM });

/**
 * colsT[k, m - m0] = cols[m, k] for output pixels m in [m0, m0 + Mc): the im2col matrix,
 * transposed (so the weight gradient colsT · dY is a plain matmul). n = K · Mc.
 */
export function im2colT(): Kernel<typeof IM2COL_U> {
  return {
    name: "conv.im2col_t",
    bindings: ["read", "rw"],
    uniforms: IM2COL_U,
    code: `${IM2COL_U.wgsl}
${storage(["X", "f32", "read"], ["Cols", "f32", "rw"])}
${
      main1d(`  let k = i / u.Mc; let m = u.m0 + (i - k * u.Mc);
  let c = k % u.C; let t = k / u.C; let kx = t % u.kw; let ky = t / u.kw;
  let hw = u.outH * u.outW;
  let b = m / hw; let r = m - b * hw; let oy = r / u.outW; let ox = r - oy * u.outW;
  let iy = i32(oy * u.sh + ky) - u.ph; let ix = i32(ox * u.sw + kx) - u.pw;
  var v = 0.0;
  if (iy >= 0 && iy < i32(u.inH) && ix >= 0 && ix < i32(u.inW)) {
    v = X[((b * u.inH + u32(iy)) * u.inW + u32(ix)) * u.C + c];
  }
  Cols[i] = v;`)
    }`,
  };
}

/**
 * dX[b, iy, ix, c] = Σ over the taps (ky, kx) whose window covers (iy, ix) of
 * dCols[(b·outH + oy)·outW + ox, (ky·kw + kx)·C + c], for images [b0, b0 + n / (inH·inW·C)).
 * dCols holds the rows of those images only. A gather: deterministic, no atomics.
 */
export function col2im(): Kernel<typeof COL2IM_U> {
  return {
    name: "conv.col2im",
    bindings: ["read", "rw"],
    uniforms: COL2IM_U,
    code: `${COL2IM_U.wgsl}
${storage(["DCols", "f32", "read"], ["DX", "f32", "rw"])}
${
      main1d(`  let c = i % u.C; let p = i / u.C;
  let ix = i32(p % u.inW); let q = p / u.inW;
  let iy = i32(q % u.inH); let b = q / u.inH;
  let K = u.kh * u.kw * u.C;
  var acc = 0.0;
  for (var ky = 0u; ky < u.kh; ky++) {
    let ty = iy + u.ph - i32(ky);
    if (ty < 0 || (ty % i32(u.sh)) != 0) { continue; }
    let oy = u32(ty) / u.sh;
    if (oy >= u.outH) { continue; }
    for (var kx = 0u; kx < u.kw; kx++) {
      let tx = ix + u.pw - i32(kx);
      if (tx < 0 || (tx % i32(u.sw)) != 0) { continue; }
      let ox = u32(tx) / u.sw;
      if (ox >= u.outW) { continue; }
      acc += DCols[((b * u.outH + oy) * u.outW + ox) * K + (ky * u.kw + kx) * u.C + c];
    }
  }
  DX[(u.b0 * u.inH * u.inW * u.C) + i] = acc;`)
    }`,
  };
}

const WEIGHT_U = uniformLayout({
  n: "u32",
  O: "u32",
  C: "u32",
  Op: "u32",
  Cp: "u32",
  kh: "u32",
  kw: "u32",
  flip: "u32",
  sKy: "u32",
  sKx: "u32",
  sC: "u32",
  sO: "u32",
  scaled: "u32",
});

/**
 * A PyTorch weight W [O, C, kh, kw] laid out as a matrix for the kernels: one invocation per
 * element of the padded [Op, Cp, kh, kw] (n), writing W[o, c, ky, kx] (zero where o >= O or
 * c >= C), times Scale[o] when `scaled` (a folded batch norm), to dst[ky'·sKy + kx'·sKx +
 * c·sC + o·sO], where (ky', kx') = (ky, kx), or the flipped taps (kh-1-ky, kw-1-kx) when `flip`.
 */
export function weightToMatrix(): Kernel<typeof WEIGHT_U> {
  return {
    name: "conv.weight_to_matrix",
    bindings: ["read", "read", "rw"],
    uniforms: WEIGHT_U,
    code: `${WEIGHT_U.wgsl}
${storage(["W", "f32", "read"], ["Scale", "f32", "read"], ["Dst", "f32", "rw"])}
${
      main1d(`  let kx = i % u.kw; let t = i / u.kw; let ky = t % u.kh; let t2 = t / u.kh;
  let c = t2 % u.Cp; let o = t2 / u.Cp;
  var v = 0.0;
  if (o < u.O && c < u.C) {
    v = W[((o * u.C + c) * u.kh + ky) * u.kw + kx];
    if (u.scaled != 0u) { v *= Scale[o]; }
  }
  var fy = ky; var fx = kx;
  if (u.flip != 0u) { fy = u.kh - 1u - ky; fx = u.kw - 1u - kx; }
  Dst[fy * u.sKy + fx * u.sKx + c * u.sC + o * u.sO] = v;`)
    }`,
  };
}

/** The inverse for gradients: dW[o, c, ky, kx] = Src[ky·sKy + kx·sKx + c·sC + o·sO] (n = O·C·kh·kw). */
export function matrixToWeight(): Kernel<typeof WEIGHT_U> {
  return {
    name: "conv.matrix_to_weight",
    bindings: ["read", "rw"],
    uniforms: WEIGHT_U,
    code: `${WEIGHT_U.wgsl}
${storage(["Src", "f32", "read"], ["DW", "f32", "rw"])}
${
      main1d(`  let kx = i % u.kw; let t = i / u.kw; let ky = t % u.kh; let t2 = t / u.kh;
  let c = t2 % u.C; let o = t2 / u.C;
  DW[i] = Src[ky * u.sKy + kx * u.sKx + c * u.sC + o * u.sO];`)
    }`,
  };
}

// ---- average pooling over [N, H, W, C] (NCHW is [B·C, H, W, 1]) -----------------------------

const POOL_U = uniformLayout({
  n: "u32",
  H: "u32",
  W: "u32",
  C: "u32",
  Ho: "u32",
  Wo: "u32",
  kh: "u32",
  kw: "u32",
  sh: "u32",
  sw: "u32",
  inv: "f32",
});

/** Y[b, oy, ox, c] = mean of X over the window at (oy·sh, ox·sw) (no padding, floor mode). */
export function avgPoolForward(): Kernel<typeof POOL_U> {
  return {
    name: "avg_pool.forward",
    bindings: ["read", "rw"],
    uniforms: POOL_U,
    code: `${POOL_U.wgsl}
${storage(["X", "f32", "read"], ["Y", "f32", "rw"])}
${
      main1d(`  let c = i % u.C; let p = i / u.C;
  let ox = p % u.Wo; let q = p / u.Wo; let oy = q % u.Ho; let b = q / u.Ho;
  var acc = 0.0;
  for (var ky = 0u; ky < u.kh; ky++) {
    let row = (b * u.H + oy * u.sh + ky) * u.W + ox * u.sw;
    for (var kx = 0u; kx < u.kw; kx++) { acc += X[(row + kx) * u.C + c]; }
  }
  Y[i] = acc * u.inv;`)
    }`,
  };
}

/** dX[b, iy, ix, c] = Σ over the windows that contain (iy, ix) of dY / (kh·kw) (a gather). */
export function avgPoolBackward(): Kernel<typeof POOL_U> {
  return {
    name: "avg_pool.backward",
    bindings: ["read", "rw"],
    uniforms: POOL_U,
    code: `${POOL_U.wgsl}
${storage(["DY", "f32", "read"], ["DX", "f32", "rw"])}
${
      main1d(`  let c = i % u.C; let p = i / u.C;
  let ix = p % u.W; let q = p / u.W; let iy = q % u.H; let b = q / u.H;
  // windows oy with oy·sh <= iy < oy·sh + kh, inside [0, Ho); likewise ox
  let oyLo = select(0u, (iy + u.sh - u.kh) / u.sh, iy + 1u >= u.kh);
  let oxLo = select(0u, (ix + u.sw - u.kw) / u.sw, ix + 1u >= u.kw);
  let oyHi = min(iy / u.sh + 1u, u.Ho); let oxHi = min(ix / u.sw + 1u, u.Wo);
  var acc = 0.0;
  for (var oy = oyLo; oy < oyHi; oy++) {
    for (var ox = oxLo; ox < oxHi; ox++) { acc += DY[((b * u.Ho + oy) * u.Wo + ox) * u.C + c]; }
  }
  DX[i] = acc * u.inv;`)
    }`,
  };
}

// ---- batch norm with frozen statistics over [outer, C, inner] -------------------------------
// y = (x - mean[c]) · w[c] / sqrt(var[c] + eps) + b[c], optionally followed by ReLU.

const BN_U = uniformLayout({
  n: "u32",
  C: "u32",
  inner: "u32",
  outer: "u32",
  eps: "f32",
  relu: "u32",
});
const BN_STORAGE: [string, string, "read"][] = [
  ["Wt", "f32", "read"],
  ["Bs", "f32", "read"],
  ["Mean", "f32", "read"],
  ["Var", "f32", "read"],
];

export function batchNormForward(): Kernel<typeof BN_U> {
  return {
    name: "batch_norm.forward",
    bindings: ["read", "read", "read", "read", "read", "rw"],
    uniforms: BN_U,
    code: `${BN_U.wgsl}
${storage(["X", "f32", "read"], ...BN_STORAGE, ["Y", "f32", "rw"])}
${
      main1d(`  let c = (i / u.inner) % u.C;
  var y = (X[i] - Mean[c]) * (Wt[c] / sqrt(Var[c] + u.eps)) + Bs[c];
  if (u.relu != 0u) { y = max(y, 0.0); }
  Y[i] = y;`)
    }`,
  };
}

/** dX = dY · w / sqrt(var + eps), masked by y > 0 after a fused ReLU. */
export function batchNormBackwardInput(): Kernel<typeof BN_U> {
  return {
    name: "batch_norm.backward_input",
    bindings: ["read", "read", "read", "read", "read", "read", "rw"],
    uniforms: BN_U,
    code: `${BN_U.wgsl}
${storage(["Y", "f32", "read"], ...BN_STORAGE, ["DY", "f32", "read"], ["DX", "f32", "rw"])}
${
      main1d(`  let c = (i / u.inner) % u.C;
  var dy = DY[i];
  if (u.relu != 0u && !(Y[i] > 0.0)) { dy = 0.0; }
  DX[i] = dy * (Wt[c] / sqrt(Var[c] + u.eps));`)
    }`,
  };
}

/** One invocation per channel (n = C): dw = Σ dy·x̂, db = Σ dy (dy masked after a ReLU). */
export function batchNormBackwardParams(): Kernel<typeof BN_U> {
  return {
    name: "batch_norm.backward_params",
    bindings: ["read", "read", "read", "read", "read", "read", "read", "rw", "rw"],
    uniforms: BN_U,
    code: `${BN_U.wgsl}
${
      storage(
        ["X", "f32", "read"],
        ["Y", "f32", "read"],
        ...BN_STORAGE,
        ["DY", "f32", "read"],
        ["DW", "f32", "rw"],
        ["DB", "f32", "rw"],
      )
    }
${
      main1d(`  let c = i;
  let mean = Mean[c]; let rstd = 1.0 / sqrt(Var[c] + u.eps);
  var dw = 0.0; var db = 0.0;
  for (var o = 0u; o < u.outer; o++) {
    let base = (o * u.C + c) * u.inner;
    for (var j = 0u; j < u.inner; j++) {
      var dy = DY[base + j];
      if (u.relu != 0u && !(Y[base + j] > 0.0)) { dy = 0.0; }
      db += dy;
      dw += dy * (X[base + j] - mean) * rstd;
    }
  }
  DW[c] = dw;
  DB[c] = db;`)
    }`,
  };
}

const FOLD_U = uniformLayout({ n: "u32", C: "u32", eps: "f32" });

/**
 * A frozen batch norm as a per-channel affine map, padded to Np channels (n): Scale = w /
 * sqrt(var + eps), Shift = b - mean · Scale (zero past C).
 */
export function batchNormFold(): Kernel<typeof FOLD_U> {
  return {
    name: "batch_norm.fold",
    bindings: ["read", "read", "read", "read", "rw", "rw"],
    uniforms: FOLD_U,
    code: `${FOLD_U.wgsl}
${storage(...BN_STORAGE, ["Scale", "f32", "rw"], ["Shift", "f32", "rw"])}
${
      main1d(`  var sc = 0.0; var sh = 0.0;
  if (i < u.C) {
    sc = Wt[i] / sqrt(Var[i] + u.eps);
    sh = Bs[i] - Mean[i] * sc;
  }
  Scale[i] = sc;
  Shift[i] = sh;`)
    }`,
  };
}

const MASK_U = uniformLayout({ n: "u32" });

/** dZ = dY where Y > 0, else 0 (the ReLU of a fused epilogue, from its output). */
export function reluMask(): Kernel<typeof MASK_U> {
  return {
    name: "conv.relu_mask",
    bindings: ["read", "read", "rw"],
    uniforms: MASK_U,
    code: `${MASK_U.wgsl}
${storage(["Y", "f32", "read"], ["DY", "f32", "read"], ["DZ", "f32", "rw"])}
${main1d(`  DZ[i] = select(0.0, DY[i], Y[i] > 0.0);`)}`,
  };
}
