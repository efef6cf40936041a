/**
 * Antidote's public API: purify backdoored CLIP models with CBPT (class-wise backdoor prompt
 * tuning), on a small autograd engine on WebGPU (WGSL compute shaders).
 *
 * ```ts
 * import { initGpu, matmul, sum, Tensor } from "./mod.ts";
 * await initGpu(); // opens the GPU; loadClip and runWithGpu open it too
 * const a = Tensor.from([1, 2, 3, 4], [2, 2], { requiresGrad: true });
 * const y = sum(matmul(a, a));
 * y.backward();
 * console.log(await a.grad!.toArray());
 * ```
 *
 * Importing this module touches no GPU: reading a checkpoint or tokenizing never opens one. The
 * GPU (one device per process) opens on the first `await initGpu()`, `await loadClip(...)` or
 * `runWithGpu(main)`; a tensor operation before that throws an error saying so. Without a WebGPU
 * adapter, opening rejects with a GpuUnavailableError that says what to install.
 * @module
 */

import { initRuntime, rt } from "./src/gpu/runtime.ts";
import type { AdapterSummary } from "./src/gpu/device.ts";
import type { PoolStats } from "./src/gpu/buffers.ts";

export {
  type DType,
  noGrad,
  readTensors,
  type Returned,
  type Shape,
  type TapeNode,
  Tensor,
  type TensorOptions,
  tidy,
} from "./src/autograd/tensor.ts";
export type { BufferRef } from "./src/gpu/runtime.ts";
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
  type Operand,
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
  slicePermute,
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
  type CosineOptions,
  cosineSchedule,
  linfBall,
  Optimizer,
  type OptimizerOptions,
  SGD,
  type SgdOptions,
} from "./src/autograd/optim.ts";
export { NonFiniteError, setNanCheck } from "./src/autograd/nancheck.ts";
export {
  type AdapterSummary,
  GpuDeviceError,
  GpuUnavailableError,
  INSTALL_HINT,
} from "./src/gpu/device.ts";
export { runWithGpu } from "./src/gpu/runtime.ts";
export type { PoolStats } from "./src/gpu/buffers.ts";

/**
 * Opens the GPU (idempotent: one device per process); rejects with a GpuUnavailableError saying
 * what to install. Await it before the first `Tensor.from` or other tensor operation, unless
 * `loadClip` or `runWithGpu` has opened it already.
 */
export async function initGpu(): Promise<void> {
  await initRuntime();
}

/** Adapter name, backend hint, features and limits (opens the GPU if it is not open yet). */
export async function gpuInfo(): Promise<AdapterSummary> {
  await initRuntime();
  return rt().gpu.summary;
}

/** Pool statistics: bytes live, pooled and allocated on the device (the GPU must be open). */
export function memoryStats(): PoolStats {
  return rt().pool.stats();
}

/** Submits encoded work and waits for the GPU to finish it (opens the GPU if needed). */
export async function sync(): Promise<void> {
  await initRuntime();
  await rt().sync();
}

// ---- CLIP ---------------------------------------------------------------------------------
export { loadClip, type LoadedClip } from "./src/clip/index.ts";
export {
  Clip,
  type ClipArch,
  eotPositions,
  type HostWeights,
  type TokenRows,
  trimTokens,
} from "./src/clip/model.ts";
export {
  type CheckpointFormat,
  type ClipWeights,
  type HostTensor,
  loadClipWeights,
  type LoadOptions,
} from "./src/clip/checkpoint.ts";
export { canonicalShapes } from "./src/clip/layout.ts";
export {
  type Activation,
  CLIP_ARCHS,
  type ClipArchName,
  type ClipConfig,
} from "./src/clip/config.ts";
export {
  DTYPE_BYTES,
  encodeSafetensors,
  type ReadOptions,
  readSafetensors,
  type SafeDType,
  type SafeTensor,
  type Safetensors,
  type TensorData,
  type TensorSpec,
  toFloat32,
  toInt32,
  writeSafetensors,
} from "./src/io/safetensors.ts";
export {
  ClipTokenizer,
  type DecodeOptions,
  type TokenizedBatch,
  type TokenizeOptions,
} from "./src/clip/tokenizer.ts";
export { IMAGENET_TEMPLATES_80, ONE_TEMPLATE } from "./src/clip/templates.ts";
export { zeroShotClassifier, type ZeroShotOptions } from "./src/clip/zeroshot.ts";
export {
  type BatchOptions,
  CLIP_MEAN,
  CLIP_STD,
  ImageLoadError,
  type NormalizeOptions,
  type PreprocessedBatch,
  preprocessImage,
  preprocessImages,
  type SizeLimit,
} from "./src/clip/preprocess.ts";
export {
  checkPixelStats,
  CLIP_PIXEL_STATS,
  describePixelStats,
  type PixelStats,
  type Rgb,
} from "./src/clip/pixel_stats.ts";

// ---- CBPT and the backdoor lab's attacks ----------------------------------------------------
export { type Classification, PurifiedClassifier } from "./src/cbpt/purified.ts";
export {
  type AppliedAttack,
  type CbptOptions,
  type CbptReport,
  type CbptResult,
  type EvalAttack,
  measure,
  type Metrics,
  runCbpt,
  type TriggerExamples,
} from "./src/cbpt/run.ts";
export type { Progress } from "./src/cbpt/progress.ts";
export { CBPT_FILES, prepareOutDir, writeCbptOutputs } from "./src/cli/outputs.ts";
export {
  type HostTrigger,
  type InversionResult,
  invertTrigger,
  MASK_TRIGGER_DEFAULTS,
  TRIGGER_DEFAULTS,
  type TriggerAttempt,
  triggerDefaults,
  type TriggerPattern,
  type TriggerSettings,
} from "./src/cbpt/trigger.ts";
export {
  type EpochLosses,
  type ThirdLoss,
  TUNE_DEFAULTS,
  type TuneIO,
  tunePrompts,
  type TuneResult,
  type TuneSettings,
} from "./src/cbpt/tune.ts";
export {
  type ClassEvidence,
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
  inversionPattern,
  MAD_FLOORS,
  pooledAnomaly,
  SEARCH_PATTERNS,
  type SearchPattern,
  searchTargets,
  type ShapeEvidence,
  strongestSearch,
  suspectScore,
  TARGET_SEARCH_DEFAULTS,
  type TargetSearch,
  type TargetSearchSettings,
  type TargetVerdict,
  targetVerdict,
} from "./src/cbpt/targets.ts";
export {
  chooseRecipe,
  PURIFY_TRIGGER,
  PURIFY_TUNE,
  type RecipeCandidate,
  type RecipeChoice,
} from "./src/cbpt/recipe.ts";
export {
  type ContextFit,
  type ContextInit,
  fitContext,
  type PromptTokens,
} from "./src/cbpt/prompts.ts";
export { imageChunk, imageFeatures } from "./src/clip/pixels.ts";
export { type ImageSet } from "./src/io/images.ts";
export { asEvalAttack, attackTrigger, evalAttack, labAttack } from "./src/lab/attack.ts";
export {
  type ApplyOptions,
  type Attack,
  ATTACK_NAMES,
  type AttackMap,
  type AttackName,
  type AttackOptionsMap,
  type BadClipAttack,
  type BadClipOptions,
  type BadNetAttack,
  type BadNetOptions,
  type BaseAttackOptions,
  type BlendedAttack,
  type BlendedOptions,
  type ImageShape,
  makeAttack,
  type SigAttack,
  type SigOptions,
  type SsbaAttack,
  type SsbaOptions,
  type TrojVqaAttack,
  type TrojVqaOptions,
  type WanetAttack,
  type WanetOptions,
} from "./src/attacks/index.ts";
