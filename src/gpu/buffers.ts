// A size-class buffer pool. Sizes round up to one of four steps per power of two (waste <= 25%),
// so CLIP's few distinct shapes keep hitting the same free lists.
//
// Ordering rule: `queue.writeBuffer` runs on the queue timeline, ahead of commands still sitting
// in the open encoder. A buffer released during the current (unsubmitted) batch may therefore
// be reused as a kernel output at once (commands are ordered), but not as an upload target
// until the batch is submitted. `acquire(bytes, true)` enforces that.

const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 256) * 256);
  if (b <= 4096) return b;
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 4;
  return Math.ceil(b / step) * step;
}

interface FreeEntry {
  buffer: GPUBuffer;
  releasedInEpoch: number;
}

/** The buffer pool's counters (`memoryStats()`). */
export interface PoolStats {
  /** Bytes of buffers handed out and not yet released (by size class). */
  liveBytes: number;
  /** Bytes of released buffers kept for reuse. */
  pooledBytes: number;
  /** liveBytes + pooledBytes: what the pool holds on the device. */
  allocatedBytes: number;
  /** Buffers handed out and not yet released. */
  liveBuffers: number;
  /** Highest liveBytes since the pool opened (or since resetPeak). */
  peakLiveBytes: number;
  /** Buffers created on the device. */
  created: number;
  /** Requests served by a pooled buffer instead of a new one. */
  reused: number;
}

export class BufferPool {
  #free = new Map<number, FreeEntry[]>();
  #classOf = new WeakMap<GPUBuffer, number>();
  #stats = {
    liveBytes: 0,
    pooledBytes: 0,
    liveBuffers: 0,
    peakLiveBytes: 0,
    created: 0,
    reused: 0,
  };
  /** Incremented by the runtime on every submit. */
  epoch = 0;

  constructor(private device: GPUDevice, private maxBinding: number) {}

  acquire(bytes: number, forUpload = false): GPUBuffer {
    let cls = sizeClass(bytes);
    if (cls > this.maxBinding && bytes <= this.maxBinding) cls = Math.ceil(bytes / 256) * 256;
    const list = this.#free.get(cls);
    if (list) {
      for (let i = list.length - 1; i >= 0; i--) {
        if (forUpload && list[i].releasedInEpoch >= this.epoch) continue;
        const { buffer } = list[i];
        list.splice(i, 1);
        this.#stats.pooledBytes -= cls;
        this.#stats.liveBytes += cls;
        this.#stats.liveBuffers++;
        this.#stats.reused++;
        this.#notePeak();
        return buffer;
      }
    }
    let buffer: GPUBuffer;
    try {
      buffer = this.device.createBuffer({ size: cls, usage: STORAGE_USAGE });
    } catch (e) {
      // Out of memory or over a limit: give back what is pooled and try once more.
      this.trim();
      try {
        buffer = this.device.createBuffer({ size: cls, usage: STORAGE_USAGE });
      } catch {
        throw new Error(
          `cannot allocate a GPU buffer of ${bytes} bytes (class ${cls}; ` +
            `${this.#stats.liveBytes} bytes live): ${(e as Error).message}`,
        );
      }
    }
    this.#classOf.set(buffer, cls);
    this.#stats.liveBytes += cls;
    this.#stats.liveBuffers++;
    this.#stats.created++;
    this.#notePeak();
    return buffer;
  }

  #notePeak(): void {
    this.#stats.peakLiveBytes = Math.max(this.#stats.peakLiveBytes, this.#stats.liveBytes);
  }

  resetPeak(): void {
    this.#stats.peakLiveBytes = this.#stats.liveBytes;
  }

  release(buffer: GPUBuffer): void {
    const cls = this.#classOf.get(buffer);
    if (cls === undefined) {
      throw new Error("BufferPool.release: buffer does not belong to the pool");
    }
    let list = this.#free.get(cls);
    if (!list) this.#free.set(cls, list = []);
    list.push({ buffer, releasedInEpoch: this.epoch });
    this.#stats.liveBytes -= cls;
    this.#stats.liveBuffers--;
    this.#stats.pooledBytes += cls;
  }

  /** Destroys pooled buffers that no unsubmitted command references (WebGPU defers the actual
   * free until submitted work that uses them has finished). */
  trim(): void {
    for (const [cls, list] of this.#free) {
      const keep = list.filter((e) => e.releasedInEpoch >= this.epoch);
      for (const e of list) if (e.releasedInEpoch < this.epoch) e.buffer.destroy();
      this.#stats.pooledBytes -= (list.length - keep.length) * cls;
      this.#free.set(cls, keep);
    }
  }

  stats(): PoolStats {
    const s = this.#stats;
    return { ...s, allocatedBytes: s.liveBytes + s.pooledBytes };
  }
}
