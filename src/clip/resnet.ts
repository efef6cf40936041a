// OpenAI CLIP's ModifiedResNet image tower (RN50, RN101, RN50x4, ...) on the engine, as
// openai/CLIP clip/model.py computes it with batch norm in eval mode:
//
//   stem: conv1 3×3 s2 → bn1 → relu, conv2 3×3 → bn2 → relu, conv3 3×3 → bn3 → relu, avgpool 2
//   layer1..4 of Bottleneck blocks (widths w, 2w, 4w, 8w, expansion 4; stride 2 from layer2 on):
//     conv1 1×1 → bn1 → relu, conv2 3×3 → bn2 → relu, avgpool(stride), conv3 1×1 → bn3,
//     + identity or downsample (avgpool(stride) → 1×1 conv → bn), relu
//   attnpool: tokens = [mean of the HW grid, grid] + positional embedding; one query (the mean
//     token) attends over all of them with q/k/v projections; c_proj of the result.
//
// Activations stay channels-last (NHWC) from the first convolution on: every convolution is an
// implicit GEMM over channels (src/autograd/ops/conv.ts); with frozen weights each batch norm
// folds into its convolution, whose store also adds the residual and applies the ReLU (one
// kernel per conv-bn-relu), and the grid flattens to attention tokens [B, HW, C] without a
// permute.

import {
  add,
  avgPool2dNhwc,
  concat,
  conv2dBnNhwc,
  type ConvWeightCache,
  linear,
  matmul,
  mean,
  mul,
  permute,
  reshape,
  slice,
  softmax,
} from "../autograd/ops/index.ts";
import type { Tensor } from "../autograd/tensor.ts";
import type { ClipConfig } from "./config.ts";
import { resnetBlocks } from "./layout.ts";

/** Where the tower reads its weights (OpenAI state-dict names). */
export interface ResNetParams {
  param(name: string): Tensor;
  /**
   * x · Wᵀ + b for the linear layer `prefix` (`prefix.weight`, `prefix.bias`). Optional: the
   * CLIP model passes its frozen-weight fast path; the default is the `linear` op.
   */
  linear?(x: Tensor, prefix: string): Tensor;
  /** Keeps the frozen convolution weights' kernel layouts across calls (the model owns it). */
  convCache?: ConvWeightCache;
}

/** The config fields the tower reads. */
export type ResNetArch = Pick<
  ClipConfig,
  "imageResolution" | "visionWidth" | "visionHeads" | "visionResLayers" | "embedDim"
>;

const BN_EPS = 1e-5; // torch.nn.BatchNorm2d's default, which CLIP keeps

/**
 * Image features [B, embedDim] (not normalised) from normalised pixels [B, 3, R, R] with a
 * ModifiedResNet image tower.
 */
export function encodeImageResNet(p: ResNetParams, c: ResNetArch, pixels: Tensor): Tensor {
  const R = c.imageResolution;
  if (
    pixels.rank !== 4 || pixels.shape[1] !== 3 || pixels.shape[2] !== R || pixels.shape[3] !== R
  ) {
    throw new Error(`encodeImage: pixels must be [B, 3, ${R}, ${R}], got [${pixels.shape}]`);
  }
  // relu?(bn(conv(x)) + residual?): one fused kernel while the weights are frozen.
  const convBn = (
    x: Tensor,
    conv: string,
    bn: string,
    o: { padding?: number; stride?: number; relu?: boolean; residual?: Tensor } = {},
  ) =>
    conv2dBnNhwc(x, p.param(`${conv}.weight`), {
      weight: p.param(`${bn}.weight`),
      bias: p.param(`${bn}.bias`),
      runningMean: p.param(`${bn}.running_mean`),
      runningVar: p.param(`${bn}.running_var`),
      eps: BN_EPS,
    }, { ...o, weightCache: p.convCache });

  // The stem.
  let x = permute(pixels, [0, 2, 3, 1]); // NHWC
  x = convBn(x, "visual.conv1", "visual.bn1", { padding: 1, stride: 2, relu: true });
  x = convBn(x, "visual.conv2", "visual.bn2", { padding: 1, relu: true });
  x = convBn(x, "visual.conv3", "visual.bn3", { padding: 1, relu: true });
  x = avgPool2dNhwc(x, 2);

  for (const b of resnetBlocks(c)) {
    const at = (n: string) => `${b.prefix}.${n}`;
    let out = convBn(x, at("conv1"), at("bn1"), { relu: true });
    out = convBn(out, at("conv2"), at("bn2"), { padding: 1, relu: true });
    if (b.stride > 1) out = avgPool2dNhwc(out, b.stride);
    let identity = x;
    if (b.downsample) {
      const pooled = b.stride > 1 ? avgPool2dNhwc(x, b.stride) : x;
      identity = convBn(pooled, at("downsample.0"), at("downsample.1"));
    }
    x = convBn(out, at("conv3"), at("bn3"), { residual: identity, relu: true });
  }
  return attentionPool(p, c, x);
}

/** upstream AttentionPool2d on x [B, h, w, C] → [B, embedDim]. */
function attentionPool(p: ResNetParams, c: ResNetArch, x: Tensor): Tensor {
  const [B, h, w, C] = x.shape;
  const heads = c.visionHeads, Dh = C / heads, L = h * w + 1;
  const lin = (t: Tensor, prefix: string) =>
    p.linear
      ? p.linear(t, prefix)
      : linear(t, p.param(`${prefix}.weight`), p.param(`${prefix}.bias`));
  const grid = reshape(x, [B, h * w, C]);
  let tokens = concat([mean(grid, 1, true), grid], 1); // [B, L, C]
  tokens = add(tokens, p.param("visual.attnpool.positional_embedding"));
  const first = reshape(slice(tokens, 1, 0, 1), [B, C]);
  const q = mul(lin(first, "visual.attnpool.q_proj"), 1 / Math.sqrt(Dh));
  const split = (t: Tensor) => permute(reshape(t, [B, L, heads, Dh]), [0, 2, 1, 3]); // [B, H, L, Dh]
  const k = split(lin(tokens, "visual.attnpool.k_proj"));
  const v = split(lin(tokens, "visual.attnpool.v_proj"));
  const scores = matmul(reshape(q, [B, heads, 1, Dh]), k, { transB: true }); // [B, H, 1, L]
  const attended = matmul(softmax(scores), v); // [B, H, 1, Dh]
  return lin(reshape(attended, [B, C]), "visual.attnpool.c_proj");
}
