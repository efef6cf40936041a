// One WebGPU device per process, asked for with the adapter's full buffer limits.
// Lost devices and uncaptured validation errors become clear errors at the next sync point.

/** No WebGPU adapter could be opened; the message says what to install. */
export class GpuUnavailableError extends Error {
  /** Always "GpuUnavailableError". */
  override name = "GpuUnavailableError";
}

/** The device was lost, or a GPU command failed (surfaced at the next sync point). */
export class GpuDeviceError extends Error {
  /** Always "GpuDeviceError". */
  override name = "GpuDeviceError";
}

/** What to install when no WebGPU adapter is found (part of GpuUnavailableError's message). */
export const INSTALL_HINT: string =
  "Antidote needs a WebGPU adapter. On Linux without a GPU, install Mesa's software drivers: " +
  "`sudo apt-get install mesa-vulkan-drivers` (Vulkan/lavapipe, fastest) or " +
  "`sudo apt-get install libegl-mesa0 libgl1-mesa-dri` (OpenGL/llvmpipe). " +
  "On macOS (Metal) and Windows (D3D12) the system driver serves. " +
  "Run `deno run -A scripts/gpu-info.ts` to see what Deno finds.";

/** What `gpuInfo()` reports about the adapter in use. */
export interface AdapterSummary {
  /** The adapter's description or device name ("llvmpipe (LLVM 15.0.6, 256 bits)"). */
  description: string;
  /** The adapter's vendor, as WebGPU reports it (may be empty). */
  vendor: string;
  /** The adapter's architecture, as WebGPU reports it (may be empty). */
  architecture: string;
  /** The backend asked for (DENO_WEBGPU_BACKEND), or the default's name: Deno does not say. */
  backend: string;
  /** Whether WebGPU calls it a fallback adapter. */
  isFallbackAdapter: boolean;
  /** A software rasteriser (llvmpipe, lavapipe, SwiftShader, WARP) or a fallback adapter. */
  isSoftware: boolean;
  /** The adapter's features, sorted. */
  features: string[];
  /** The adapter's numeric limits by name. */
  limits: Record<string, number>;
}

export interface Gpu {
  device: GPUDevice;
  adapter: GPUAdapter;
  summary: AdapterSummary;
}

let current: Promise<Gpu> | null = null;
let lost: string | null = null;
const pendingErrors: string[] = [];

/** The process-wide GPU. The first call asks for the adapter and device. */
export function getGpu(): Promise<Gpu> {
  if (!current) current = openGpu();
  return current;
}

/** Throws if the device was lost or an uncaptured GPU error happened since the last check. */
export function throwIfGpuFailed(context: string): void {
  if (lost !== null) throw new GpuDeviceError(`GPU device lost (${lost}) during ${context}`);
  if (pendingErrors.length) {
    const msgs = pendingErrors.splice(0).join("\n  ");
    throw new GpuDeviceError(`GPU error during ${context}:\n  ${msgs}`);
  }
}

/** Records an error to be thrown at the next sync point (used for asynchronous GPU errors). */
export function reportGpuError(message: string): void {
  if (pendingErrors.length < 20) pendingErrors.push(message);
}

/** Vulkan's loader complains on every start without XDG_RUNTIME_DIR; give it a private one. */
function ensureRuntimeDir(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/antidote-xdg-${Deno.uid() ?? 0}`;
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch {
    // without env or write permission the message is only noise; carry on
  }
}

/**
 * wgpu starts every backend it was built with, so by default EGL is loaded beside Vulkan even when
 * Vulkan serves; at exit EGL's library destructor races the software driver's threads, and glibc
 * aborted on a corrupted heap after the tests' summary in 7 of 50 `deno test` runs here (0 of 60
 * with Vulkan alone; a core dump showed exit() in libEGL's destructor while another thread died). Where a Vulkan driver is installed and the user chose no backend, ask for
 * Vulkan alone.
 */
function preferVulkan(): void {
  try {
    if (Deno.build.os !== "linux" || Deno.env.get("DENO_WEBGPU_BACKEND")) return;
    for (const dir of ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]) {
      for (const e of Deno.readDirSync(dir)) {
        if (e.name.endsWith(".json")) return Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
      }
    }
  } catch {
    // no such folder, or no permission to look: keep wgpu's default
  }
}

/**
 * Where wgpu may load EGL (Linux, OpenGL not ruled out), end the process with `_exit(status)` the
 * moment `exit()` starts, before any library destructor runs. libglvnd's libEGL and libGLdispatch
 * free every thread's EGL/GL state in their destructors while the runtime's worker threads exit
 * and free the same state from their own thread-exit hooks: a double free that glibc aborts on
 * ("corrupted double-linked list", "malloc_consolidate(): unaligned fastbin chunk") after all
 * work and output are done. Core dumps showed the main thread in libEGL's or libGLdispatch's
 * destructor while another thread ran its thread-exit frees. A bare WebGPU test module aborted in
 * 5 of 200 runs, 0 of 300 with this guard; `scripts/exit-race.ts --release` in 2 of 200, 0 of 400
 * with it. glibc's on_exit handlers run in reverse order
 * of registration, all of them before the destructors (_dl_fini was registered first), and get
 * the exit status, so `_exit` called as one keeps the status. Deno writes output unbuffered, so
 * nothing is lost; C libraries' own exit work (Mesa's shader-cache writer thread) is skipped,
 * which costs at most a cache entry. Needs the ffi permission (granted, never prompted for) and
 * glibc; otherwise the normal exit stays. ANTIDOTE_EXIT_GUARD=0 turns it off.
 */
function guardGlExit(): void {
  if (exitGuarded || Deno.build.os !== "linux") return;
  if (Deno.permissions.querySync({ name: "env" }).state === "granted") {
    if (Deno.env.get("ANTIDOTE_EXIT_GUARD") === "0") return;
  }
  const backend = Deno.env.get("DENO_WEBGPU_BACKEND");
  if (backend && !/gl/i.test(backend)) return; // EGL is loaded only for the GL backend
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return;
    const libc = Deno.dlopen("libc.so.6", {
      dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
      on_exit: { parameters: ["pointer", "pointer"], result: "i32" },
    });
    // dlsym(RTLD_DEFAULT = NULL, "_exit"): the address of _exit(int), called as fn(status, arg).
    const exitFn = libc.symbols.dlsym(null, new TextEncoder().encode("_exit\0"));
    if (exitFn && libc.symbols.on_exit(exitFn, null) === 0) exitGuarded = true;
  } catch {
    // not glibc, or no FFI here: keep the normal exit
  }
}
let exitGuarded = false;

/** Whether this process will end by `_exit(status)` when it exits (see guardGlExit). */
export function gpuExitGuarded(): boolean {
  return exitGuarded;
}

async function openGpu(): Promise<Gpu> {
  ensureRuntimeDir();
  preferVulkan();
  guardGlExit();
  if (typeof navigator === "undefined" || !("gpu" in navigator)) {
    throw new GpuUnavailableError(`navigator.gpu is missing in this runtime. ${INSTALL_HINT}`);
  }
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (e) {
    throw new GpuUnavailableError(
      `requestAdapter failed (${(e as Error).message}). ${INSTALL_HINT}`,
    );
  }
  if (!adapter) {
    const chosen = Deno.env.get("DENO_WEBGPU_BACKEND");
    const tried = chosen === "vulkan"
      ? " (DENO_WEBGPU_BACKEND=vulkan gave none; DENO_WEBGPU_BACKEND=gl tries OpenGL)"
      : chosen
      ? ` (DENO_WEBGPU_BACKEND=${chosen})`
      : "";
    throw new GpuUnavailableError(`No WebGPU adapter was found${tried}. ${INSTALL_HINT}`);
  }
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: adapter.limits.maxComputeWorkgroupSizeX,
  };
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has("shader-f16")) requiredFeatures.push("shader-f16");
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  device.lost.then((info) => {
    lost = `${info.reason}: ${info.message}`;
  });
  device.addEventListener("uncapturederror", (ev) => {
    reportGpuError((ev as GPUUncapturedErrorEvent).error.message);
  });
  return { device, adapter, summary: summarise(adapter) };
}

function summarise(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  const description = info.description || info.device || "unknown adapter";
  // Deno does not expose the backend; the environment variable that selects it is the best hint.
  const backend = Deno.env.get("DENO_WEBGPU_BACKEND") ?? "default (Vulkan, else GL)";
  const fallback = (info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    false;
  const isSoftware = fallback || /llvmpipe|lavapipe|swiftshader|software|warp/i.test(description);
  const limits: Record<string, number> = {};
  for (const key in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === "number") limits[key] = v;
  }
  return {
    description,
    vendor: info.vendor,
    architecture: info.architecture,
    backend,
    isFallbackAdapter: fallback,
    isSoftware,
    features: [...adapter.features].sort(),
    limits,
  };
}
