// Per-step scalars (losses) stay on the GPU and come back together: one sync costs ~11 ms on a
// software adapter (docs/design/webgpu-feasibility.md), a full-batch stage-2 step ~30 ms.

import { readTensors, type Tensor } from "../autograd/tensor.ts";

/** Steps whose scalars come back in one GPU sync, by default. */
export const READ_EVERY = 16;

/** Scalars of several steps, each with its caller's tag, read back in one sync. */
export class BatchedScalars<Tag> {
  #pending: { tag: Tag; scalars: Tensor[] }[] = [];

  constructor(readonly every = READ_EVERY) {}

  /** Keeps one step's scalar (or small) tensors (they are disposed here); true when a read is due. */
  push(tag: Tag, scalars: Tensor[]): boolean {
    this.#pending.push({ tag, scalars });
    return this.#pending.length >= this.every;
  }

  /**
   * Every pending step's values, in push order, from one sync: `values` holds each tensor's first
   * element (a scalar's value), `arrays` each tensor whole (a small per-step tensor, e.g. logits).
   */
  async read(): Promise<{ tag: Tag; values: number[]; arrays: Float32Array[] }[]> {
    const pending = this.#pending;
    if (!pending.length) return [];
    try {
      const all = await readTensors(pending.flatMap((p) => p.scalars));
      let k = 0;
      return pending.map((p) => {
        const arrays = p.scalars.map(() => all[k++]);
        return { tag: p.tag, values: arrays.map((a) => a[0]), arrays };
      });
    } finally {
      this.dispose();
    }
  }

  dispose(): void {
    for (const p of this.#pending) for (const t of p.scalars) t.dispose();
    this.#pending = [];
  }
}
