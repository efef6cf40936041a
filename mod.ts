/**
 * Antidote's public API: a small autograd engine on WebGPU (WGSL compute shaders).
 *
 * ```ts
 * import { matmul, sum, Tensor } from "./mod.ts";
 * const a = Tensor.from([1, 2, 3, 4], [2, 2], { requiresGrad: true });
 * const y = sum(matmul(a, a));
 * y.backward();
 * console.log(await a.grad!.toArray());
 * ```
 *
 * Importing this module opens the GPU (one device per process). Without a WebGPU adapter the
 * import still succeeds, and the first tensor op throws an error that says what to install.
 * @module
 */

import { initRuntime, rt } from "./src/gpu/runtime.ts";

export {
  type DType,
  noGrad,
  readTensors,
  type Shape,
  Tensor,
  tidy,
} from "./src/autograd/tensor.ts";
// The ops (each differentiable where it makes sense); engine internals (tiling, limits,
// half-precision packing, strided copies) stay unexported.
export {
  add,
  affine,
  clamp,
  div,
  equal,
  exp,
  gelu,
  greater,
  log,
  mul,
  neg,
  pow,
  quickGelu,
  relu,
  sigmoid,
  sqrt,
  sub,
  tanh,
  where,
} from "./src/autograd/ops/elementwise.ts";
export {
  broadcastTo,
  concat,
  copy,
  full,
  ones,
  onesLike,
  permute,
  reshape,
  slice,
  transpose,
  zeros,
  zerosLike,
} from "./src/autograd/ops/movement.ts";
export { max, mean, sum } from "./src/autograd/ops/reduce.ts";
export { linear, matmul, type MatmulOptions } from "./src/autograd/ops/matmul.ts";
export {
  crossEntropy,
  embedding,
  gatherRows,
  l2Normalize,
  layerNorm,
  logSoftmax,
  patchConv,
  softmax,
  type SoftmaxOptions,
} from "./src/autograd/ops/nn.ts";
export {
  avgPool2d,
  avgPool2dNhwc,
  batchNormInference,
  type BatchNormOptions,
  type BatchNormParams,
  conv2d,
  conv2dBnNhwc,
  conv2dNhwc,
  type Conv2dOptions,
  type ConvBnOptions,
  ConvWeightCache,
} from "./src/autograd/ops/conv.ts";
export {
  Adam,
  type AdamOptions,
  AdamW,
  clampInPlace,
  cosineSchedule,
  linfBall,
  SGD,
  type SgdOptions,
} from "./src/autograd/optim.ts";
export { NonFiniteError, setNanCheck } from "./src/autograd/nancheck.ts";
export {
  type AdapterSummary,
  GpuDeviceError,
  GpuUnavailableError,
  INSTALL_HINT,
  runWithGpu,
} from "./src/gpu/device.ts";

/** Opens the GPU (idempotent); rejects with a GpuUnavailableError saying what to install. */
export async function initGpu(): Promise<void> {
  await initRuntime();
}

/** Adapter name, backend hint, features and limits. */
export async function gpuInfo() {
  await initRuntime();
  return rt().gpu.summary;
}

/** Pool statistics: bytes live, pooled and allocated on the device. */
export function memoryStats() {
  return rt().pool.stats();
}

/** Submits encoded work and waits for the GPU to finish it. */
export function sync(): Promise<void> {
  return rt().sync();
}

// ---- CLIP ---------------------------------------------------------------------------------
export { loadClip, type LoadedClip } from "./src/clip/index.ts";
export { Clip, eotPositions, type TokenRows, trimTokens } from "./src/clip/model.ts";
export {
  type CheckpointFormat,
  type ClipWeights,
  type HostTensor,
  loadClipWeights,
  type LoadOptions,
} from "./src/clip/checkpoint.ts";
export { canonicalShapes } from "./src/clip/layout.ts";
export { CLIP_ARCHS, type ClipArchName, type ClipConfig } from "./src/clip/config.ts";
export {
  encodeSafetensors,
  readSafetensors,
  type SafeDType,
  type SafeTensor,
  type Safetensors,
  type TensorSpec,
  toFloat32,
  toInt32,
  writeSafetensors,
} from "./src/io/safetensors.ts";
export { ClipTokenizer, type TokenizedBatch, type TokenizeOptions } from "./src/clip/tokenizer.ts";
export { IMAGENET_TEMPLATES_80, ONE_TEMPLATE } from "./src/clip/templates.ts";
export { zeroShotClassifier } from "./src/clip/zeroshot.ts";
export {
  CLIP_MEAN,
  CLIP_STD,
  ImageLoadError,
  type PreprocessedBatch,
  preprocessImage,
  preprocessImages,
} from "./src/clip/preprocess.ts";

// ---- CBPT and the backdoor lab's attacks ----------------------------------------------------
export { PurifiedClassifier } from "./src/cbpt/purified.ts";
export {
  type CbptOptions,
  type CbptReport,
  type CbptResult,
  type EvalAttack,
  measure,
  runCbpt,
} from "./src/cbpt/run.ts";
export { CBPT_FILES, prepareOutDir, writeCbptOutputs } from "./src/cli/outputs.ts";
export {
  invertTrigger,
  MASK_TRIGGER_DEFAULTS,
  TRIGGER_DEFAULTS,
  triggerDefaults,
  type TriggerSettings,
} from "./src/cbpt/trigger.ts";
export { TUNE_DEFAULTS, tunePrompts, type TuneSettings } from "./src/cbpt/tune.ts";
export {
  evidenceLines,
  scanModel,
  type ScanOptions,
  type ScanReport,
  type ScanResult,
} from "./src/cbpt/scan.ts";
export {
  ANOMALY_THRESHOLD,
  anomalyIndex,
  type ClassCost,
  searchTargets,
  TARGET_SEARCH_DEFAULTS,
  type TargetSearch,
  type TargetSearchSettings,
  type TargetVerdict,
  targetVerdict,
} from "./src/cbpt/targets.ts";
export { chooseRecipe, PURIFY_TRIGGER, PURIFY_TUNE, type RecipeChoice } from "./src/cbpt/recipe.ts";
export { type ContextFit, fitContext } from "./src/cbpt/prompts.ts";
export { imageChunk, imageFeatures } from "./src/clip/pixels.ts";
export { type ImageSet } from "./src/io/images.ts";
export { asEvalAttack, attackTrigger, evalAttack, labAttack } from "./src/lab/attack.ts";
export { type Attack, ATTACK_NAMES, type AttackName, makeAttack } from "./src/attacks/index.ts";

// Open the device at import so that Tensor.from works without ceremony; a missing adapter is
// reported by the first op instead of failing the import.
await initRuntime().catch(() => {});
