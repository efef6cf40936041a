// Shared plumbing for ops: kernel memoisation, dispatch over tensors, shape checks.

import { groups1d, type Kernel, rt, type UniformWriter } from "../../gpu/runtime.ts";
import { WG } from "../../gpu/shaders/common.ts";
import { shapeStr, type Tensor } from "../tensor.ts";

const kernels = new Map<string, Kernel>();

/** Builds a kernel's WGSL once per key (the generators concatenate long strings). */
export function kernel(key: string, make: () => Kernel): Kernel {
  let k = kernels.get(key);
  if (!k) kernels.set(key, k = make());
  return k;
}

export function launch(
  k: Kernel,
  tensors: readonly Tensor[],
  grid: readonly [number, number?, number?],
  writeUniforms?: (u: UniformWriter) => void,
): void {
  rt().dispatch(k, tensors.map((t) => t.ref), grid, writeUniforms);
}

/** Grid for a 1-D kernel over n items (kernels in shaders/common.ts main1d). */
export function grid1d(n: number, wg = WG): [number] {
  return groups1d(n, wg);
}

export function assertF32(op: string, ...ts: Tensor[]): void {
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

export function shapeError(op: string, what: string, ...ts: Tensor[]): Error {
  return new Error(`${op}: ${what} (got ${ts.map((t) => shapeStr(t.shape)).join(" and ")})`);
}
