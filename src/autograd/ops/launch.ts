// Shared plumbing for ops: kernel memoisation, dispatch over tensors, shape checks. It sees
// tensors only structurally (what a launch reads of them), so it sits below tensor.ts and the
// tape's own launches (prims.ts) can use it.

import { type BufferRef, groups1d, type Kernel, rt } from "../../gpu/runtime.ts";
import { WG } from "../../gpu/shaders/common.ts";
import type { UniformLayout, UniformValues } from "../../gpu/uniforms.ts";
import { type DType, type Shape, shapeStr } from "../shape.ts";

/** What a launch or a check reads of a tensor (a Tensor is one). */
export interface Bound {
  readonly ref: BufferRef;
  readonly shape: Shape;
  readonly size: number;
  readonly dtype: DType;
}

const kernels = new Map<string, Kernel>();

/** Builds a kernel's WGSL once per key (the generators concatenate long strings). */
export function kernel<K extends Kernel>(key: string, make: () => K): K {
  let k = kernels.get(key) as K | undefined;
  if (!k) kernels.set(key, k = make());
  return k;
}

/** Dispatches `k` over the tensors' buffers; `uniforms` fill the kernel's uniform layout. */
export function launch<L extends UniformLayout>(
  k: Kernel<L>,
  tensors: readonly Bound[],
  grid: readonly [number, number?, number?],
  uniforms: UniformValues<L>,
): void {
  rt().dispatch(k, tensors.map((t) => t.ref), grid, uniforms);
}

/** Grid for a 1-D kernel over n items (kernels in shaders/common.ts main1d). */
export function grid1d(n: number, wg = WG): [number] {
  return groups1d(n, wg);
}

export function assertF32(op: string, ...ts: Bound[]): void {
  for (const t of ts) {
    if (t.dtype !== "f32") throw new Error(`${op}: expected an f32 tensor, got ${t.dtype} ${t}`);
  }
}

export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) {
    throw new Error(`${op}: axis ${axis} is out of range for rank ${rank}`);
  }
  return a;
}

export function shapeError(op: string, what: string, ...ts: Bound[]): Error {
  return new Error(`${op}: ${what} (got ${ts.map((t) => shapeStr(t.shape)).join(" and ")})`);
}
