// Shapes: sizes, names, broadcasting. Plain functions that know nothing of tensors, so that every
// module of the engine (the tensor and the launch plumbing below it included) can use them.

import { stridesOf } from "../gpu/shaders/common.ts";

/** A tensor's element type: 32-bit floats, or 32-bit integers (indices, labels). */
export type DType = "f32" | "i32";
/** A tensor's dimensions, outermost first ([] is a scalar). */
export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(", ")}]`);
    n *= d;
  }
  return n;
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Numpy broadcasting of two shapes, or a clear error. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Strides that read a tensor of `shape` broadcast to `outShape` (0 on broadcast axes). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const s = stridesOf(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((_, d) => (d < lead || shape[d - lead] === 1 ? 0 : s[d - lead]));
}

/** A shape viewed as [outer, R, inner] around axis `ax` (R = the axis itself). */
export function splitAt(shape: Shape, ax: number): { outer: number; R: number; inner: number } {
  let outer = 1, inner = 1;
  for (let d = 0; d < ax; d++) outer *= shape[d];
  for (let d = ax + 1; d < shape.length; d++) inner *= shape[d];
  return { outer, R: shape[ax], inner };
}
