// The command stream: one open encoder with one open compute pass collects every dispatch until
// someone needs values back (or calls flush). On the software adapter each submit+wait costs
// ~11 ms whatever the work, so the engine reads back only when asked.
//
// Every kernel has the same binding convention: @binding(0) is a 256-byte uniform slot taken
// from a per-batch arena, @binding(1..n) are storage buffers in the order the kernel lists.

import { BufferPool } from "./buffers.ts";
import {
  getGpu,
  type Gpu,
  GpuDeviceError,
  GpuUnavailableError,
  reportGpuError,
  throwIfGpuFailed,
} from "./device.ts";
import {
  UNIFORM_SLOT,
  type UniformLayout,
  type UniformValues,
  UniformWriter,
  writeUniforms,
} from "./uniforms.ts";

export type Access = "read" | "rw";

export interface Kernel<L extends UniformLayout = UniformLayout> {
  /** Names the kernel in errors and profiles; also the pipeline-cache key with `code`. */
  name: string;
  /** WGSL with entry point `main`; declares `uniforms.wgsl`. */
  code: string;
  /** Access of storage bindings 1..n. */
  bindings: Access[];
  /** The uniform struct at binding 0: dispatches pack their values by it. */
  uniforms: L;
}

const ARENA_BYTES = 1 << 20; // 4096 dispatches per batch before a forced submit
const MAX_WORKGROUPS = 65535;

/** A storage binding: the buffer and the bytes of it that the kernel may touch. */
export interface BufferRef {
  /** The GPU buffer. */
  buffer: GPUBuffer;
  /** The bytes of it that the kernel may touch, from its start. */
  size: number;
  /** f32 data (checked for NaN in debug mode); false for integer buffers. */
  float?: boolean;
}

/** One dispatch as encoded, kept so that a profiler can replay and time it on its own. */
export interface CapturedDispatch {
  kernel: Kernel;
  buffers: readonly BufferRef[];
  grid: [number, number, number];
  /** The uniform slot's bytes (the arena is reused after each submit). */
  uniforms: Uint8Array<ArrayBuffer>;
}

export interface ReadRegion {
  buffer: GPUBuffer;
  offset?: number;
  bytes: number;
}

export class Runtime {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  readonly gpu: Gpu;
  #pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #arenaCpu = new ArrayBuffer(ARENA_BYTES);
  #arena: GPUBuffer;
  #arenaUsed = 0;
  #staging: GPUBuffer[] = [];
  dispatches = 0;
  submits = 0;
  /** The largest storage binding any dispatch used, in bytes (must stay <= maxBinding). */
  largestBinding = 0;
  /** When set, each dispatch's kernel name is recorded (for profiles and debugging). */
  trace: string[] | null = null;
  /** When set, each dispatch is recorded whole (bench/clip.ts --profile replays them). */
  capture: CapturedDispatch[] | null = null;
  /** Called after each dispatch with the buffers the kernel may write (NaN checks). */
  afterDispatch: ((kernel: Kernel, written: BufferRef[]) => void) | null = null;

  constructor(gpu: Gpu) {
    this.gpu = gpu;
    this.device = gpu.device;
    this.pool = new BufferPool(this.device, this.device.limits.maxStorageBufferBindingSize);
    this.#arena = this.device.createBuffer({
      size: ARENA_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  /** Pipelines compiled so far (one per kernel variant, whatever the shapes). */
  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  get maxBinding(): number {
    return this.device.limits.maxStorageBufferBindingSize;
  }

  pipeline(kernel: Kernel): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    const key = kernel.name + "\n" + kernel.code;
    let p = this.#pipelines.get(key);
    if (p) return p;
    if (!kernel.code.includes(kernel.uniforms.wgsl)) {
      throw new Error(`kernel ${kernel.name}: its WGSL does not declare its uniform layout`);
    }
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform" } },
      ...kernel.bindings.map((a, i): GPUBindGroupLayoutEntry => ({
        binding: i + 1,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: a === "read" ? "read-only-storage" : "storage" },
      })),
    ];
    this.device.pushErrorScope("validation");
    const layout = this.device.createBindGroupLayout({ entries, label: kernel.name });
    const module = this.device.createShaderModule({ code: kernel.code, label: kernel.name });
    const pipeline = this.device.createComputePipeline({
      label: kernel.name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: "main" },
    });
    this.device.popErrorScope().then((err) => {
      if (err) {
        // A kernel that does not compile is Antidote's bug, not the user's: its numbered source
        // on stderr is what a bug report needs, and the error below still reaches the caller.
        const numbered = kernel.code.split("\n").map((l, i) => `${String(i + 1).padStart(4)} ${l}`);
        console.error(`WGSL of kernel ${kernel.name}:\n${numbered.join("\n")}`);
        reportGpuError(`kernel ${kernel.name} failed to compile: ${err.message}`);
      }
    });
    p = { pipeline, layout };
    this.#pipelines.set(key, p);
    return p;
  }

  /**
   * Encodes one dispatch. `grid` is in workgroups; a count over 65535 in x is folded into y
   * (kernels compute flat ids with `num_workgroups`). `uniforms` are the values of the kernel's
   * layout, or (for kernels outside the engine, such as the bench's) a function that writes them.
   */
  dispatch<L extends UniformLayout>(
    kernel: Kernel<L>,
    buffers: readonly BufferRef[],
    grid: readonly [number, number?, number?],
    uniforms: UniformValues<L> | ((u: UniformWriter) => void),
  ): void {
    if (buffers.length !== kernel.bindings.length) {
      throw new Error(
        `kernel ${kernel.name} takes ${kernel.bindings.length} buffers, got ${buffers.length}`,
      );
    }
    let [x, y = 1, z = 1] = grid;
    if (x === 0 || y === 0 || z === 0) return;
    if (x > MAX_WORKGROUPS) {
      y *= Math.ceil(x / MAX_WORKGROUPS);
      x = MAX_WORKGROUPS;
    }
    if (y > MAX_WORKGROUPS || z > MAX_WORKGROUPS) {
      throw new Error(`kernel ${kernel.name}: grid ${grid.join("x")} exceeds 65535 workgroups`);
    }
    for (const b of buffers) {
      if (b.size > this.maxBinding) {
        throw new Error(
          `kernel ${kernel.name}: a binding of ${b.size} bytes exceeds the adapter's ` +
            `maxStorageBufferBindingSize (${this.maxBinding}); split the tensor`,
        );
      }
      if (b.size > this.largestBinding) this.largestBinding = b.size;
    }
    if (this.#arenaUsed + UNIFORM_SLOT > ARENA_BYTES) this.flush();
    const { pipeline, layout } = this.pipeline(kernel);
    const base = this.#arenaUsed;
    const w = new UniformWriter(this.#arenaCpu, base);
    try {
      if (typeof uniforms === "function") uniforms(w);
      else writeUniforms(w, kernel.uniforms, uniforms);
    } catch (e) {
      throw new Error(`kernel ${kernel.name}: ${(e as Error).message}`);
    }
    this.#arenaUsed += UNIFORM_SLOT; // taken once the values are in
    const bindGroup = this.device.createBindGroup({
      layout,
      entries: [
        { binding: 0, resource: { buffer: this.#arena, offset: base, size: UNIFORM_SLOT } },
        ...buffers.map((b, i) => ({
          binding: i + 1,
          resource: { buffer: b.buffer, size: Math.ceil(b.size / 4) * 4 },
        })),
      ],
    });
    const pass = this.#openPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.dispatches++;
    this.trace?.push(kernel.name);
    this.capture?.push({
      kernel: kernel as unknown as Kernel,
      buffers: [...buffers],
      grid: [x, y, z],
      uniforms: new Uint8Array(this.#arenaCpu.slice(base, base + UNIFORM_SLOT)),
    });
    if (this.afterDispatch) {
      this.afterDispatch(kernel, buffers.filter((_, i) => kernel.bindings[i] === "rw"));
    }
  }

  /** Encodes a buffer-to-buffer copy (closes the open pass; copies are not pass commands). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.#closePass();
    this.#openEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Uploads into a buffer that no pending command uses (see BufferPool.acquire forUpload). */
  upload(dst: GPUBuffer, data: ArrayBufferView, dstOffset = 0): void {
    this.device.queue.writeBuffer(
      dst,
      dstOffset,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      Math.ceil(data.byteLength / 4) * 4,
    );
  }

  /** Submits everything encoded so far. Cheap: it does not wait. */
  flush(): void {
    if (!this.#encoder) return;
    this.#closePass();
    if (this.#arenaUsed > 0) {
      this.device.queue.writeBuffer(this.#arena, 0, this.#arenaCpu, 0, this.#arenaUsed);
    }
    this.device.queue.submit([this.#encoder.finish()]);
    this.#encoder = null;
    this.#arenaUsed = 0;
    this.pool.epoch++;
    this.submits++;
  }

  /** Reads several regions back with one submit and one map (each map costs ~11 ms here). */
  async read(regions: readonly ReadRegion[]): Promise<ArrayBuffer[]> {
    const offsets: number[] = [];
    let total = 0;
    for (const r of regions) {
      offsets.push(total);
      total += Math.ceil(r.bytes / 4) * 4;
      total = Math.ceil(total / 256) * 256;
    }
    if (total === 0) return regions.map(() => new ArrayBuffer(0));
    const staging = this.#takeStaging(total);
    regions.forEach((r, i) => {
      if (r.bytes > 0) {
        this.copy(r.buffer, r.offset ?? 0, staging, offsets[i], Math.ceil(r.bytes / 4) * 4);
      }
    });
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, total);
    } catch (e) {
      throwIfGpuFailed("readback");
      throw new GpuDeviceError(`GPU readback failed: ${(e as Error).message}`);
    }
    const mapped = staging.getMappedRange(0, total);
    const out = regions.map((r, i) => mapped.slice(offsets[i], offsets[i] + r.bytes));
    staging.unmap();
    this.#staging.push(staging);
    throwIfGpuFailed("readback");
    return out;
  }

  /** Waits until submitted work is done (also surfaces lost devices and GPU errors). */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    throwIfGpuFailed("sync");
  }

  #takeStaging(bytes: number): GPUBuffer {
    const i = this.#staging.findIndex((b) => b.size >= bytes && b.size <= 4 * bytes + 65536);
    if (i >= 0) return this.#staging.splice(i, 1)[0];
    if (this.#staging.length > 8) this.#staging.shift()!.destroy();
    return this.device.createBuffer({
      size: Math.max(256, Math.ceil(bytes / 256) * 256),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  #openEncoder(): GPUCommandEncoder {
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    return this.#encoder;
  }

  #openPass(): GPUComputePassEncoder {
    if (!this.#pass) this.#pass = this.#openEncoder().beginComputePass();
    return this.#pass;
  }

  #closePass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }
}

let runtime: Runtime | null = null;
let opening: Promise<Runtime> | null = null;
let openError: Error | null = null;

/**
 * Opens the process-wide runtime (adapter, device, pool) on first call; later calls return the
 * same promise. Nothing opens the GPU at import: every async entry that needs it (`initGpu`,
 * `loadClip`, `runWithGpu`, ...) awaits this, and synchronous tensor calls made before it has
 * resolved throw the error of {@link rt}.
 */
export function initRuntime(): Promise<Runtime> {
  if (runtime) return Promise.resolve(runtime);
  if (!opening) {
    opening = getGpu().then((gpu) => (runtime = new Runtime(gpu)));
    opening.catch((e) => (openError = e));
  }
  return opening;
}

/**
 * The runtime, which must already be open. Before that it throws the error that opening it gave
 * (a GpuUnavailableError saying what to install), or one saying to open it first.
 */
export function rt(): Runtime {
  if (!runtime) {
    if (openError) throw openError;
    throw new Error(
      "the GPU is not open yet: `await initGpu()` (from mod.ts) before the first tensor " +
        "operation, or start from `await loadClip(...)` or `runWithGpu(main)`, which open it",
    );
  }
  return runtime;
}

/**
 * Runs an entry point's `main` with the GPU open: a missing GPU prints one line saying what to
 * install (exit 2); any other error prints `error: message` (exit 1), with the stack when
 * ANTIDOTE_DEBUG is set.
 */
export async function runWithGpu(main: () => Promise<void>): Promise<void> {
  try {
    await initRuntime();
    await main();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    // The entry points' error boundary: printing the one line is this function's whole job.
    console.error(`error: ${err.message}`);
    if (Deno.env.get("ANTIDOTE_DEBUG")) console.error(err.stack);
    Deno.exit(e instanceof GpuUnavailableError || e instanceof GpuDeviceError ? 2 : 1);
  }
}

/** Workgroup counts for `n` invocations of a 1-D kernel with workgroup size `wg`. */
export function groups1d(n: number, wg: number): [number] {
  return [Math.ceil(n / wg)];
}
