// Float64 references for the convolution family (PyTorch semantics, NCHW): the oracle for
// test/conv_test.ts. Deliberately naive loops.

import type { Arr } from "./reference.ts";

/** torch.nn.functional.conv2d(x, w, stride, padding), no bias, one group. */
export function conv2d(
  x: Arr,
  w: Arr,
  stride: [number, number] = [1, 1],
  padding: [number, number] = [0, 0],
): Arr {
  const [B, C, H, W] = x.shape;
  const [O, Cw, kh, kw] = w.shape;
  if (Cw !== C) throw new Error("conv2d ref: channel mismatch");
  const [sh, sw] = stride, [ph, pw] = padding;
  const Ho = Math.floor((H + 2 * ph - kh) / sh) + 1;
  const Wo = Math.floor((W + 2 * pw - kw) / sw) + 1;
  const out = new Float64Array(B * O * Ho * Wo);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < O; o++) {
      for (let oy = 0; oy < Ho; oy++) {
        for (let ox = 0; ox < Wo; ox++) {
          let s = 0;
          for (let c = 0; c < C; c++) {
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * sh - ph + ky;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * sw - pw + kx;
                if (ix < 0 || ix >= W) continue;
                s += x.data[((b * C + c) * H + iy) * W + ix] *
                  w.data[((o * C + c) * kh + ky) * kw + kx];
              }
            }
          }
          out[((b * O + o) * Ho + oy) * Wo + ox] = s;
        }
      }
    }
  }
  return { data: out, shape: [B, O, Ho, Wo] };
}

/** torch.nn.AvgPool2d(kernel, stride), padding 0, ceil_mode false. */
export function avgPool2d(x: Arr, kernel: [number, number], stride: [number, number]): Arr {
  const [B, C, H, W] = x.shape;
  const [kh, kw] = kernel, [sh, sw] = stride;
  const Ho = Math.floor((H - kh) / sh) + 1, Wo = Math.floor((W - kw) / sw) + 1;
  const out = new Float64Array(B * C * Ho * Wo);
  for (let p = 0; p < B * C; p++) {
    for (let oy = 0; oy < Ho; oy++) {
      for (let ox = 0; ox < Wo; ox++) {
        let s = 0;
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) s += x.data[(p * H + oy * sh + ky) * W + ox * sw + kx];
        }
        out[(p * Ho + oy) * Wo + ox] = s / (kh * kw);
      }
    }
  }
  return { data: out, shape: [B, C, Ho, Wo] };
}

/** Eval-mode batch norm over channel axis `axis`, optionally followed by ReLU. */
export function batchNorm(
  x: Arr,
  w: Arr,
  b: Arr,
  mean: Arr,
  variance: Arr,
  eps: number,
  axis: number,
  relu = false,
): Arr {
  const C = x.shape[axis];
  const inner = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const out = x.data.map((v, i) => {
    const c = Math.floor(i / inner) % C;
    const y = (v - mean.data[c]) / Math.sqrt(variance.data[c] + eps) * w.data[c] + b.data[c];
    return relu ? Math.max(y, 0) : y;
  });
  return { data: out, shape: [...x.shape] };
}
