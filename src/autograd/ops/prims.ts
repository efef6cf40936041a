// The primitive launches that both the tape (tensor.ts) and the ops need: fill, strided copy,
// binary elementwise and the axis sum, each writing into an output the caller made. Like
// launch.ts it sees tensors structurally, so tensor.ts imports it without a cycle.

import { MAX_RANK } from "../../gpu/shaders/common.ts";
import { binary, type BinaryName, fill, stridedCopy } from "../../gpu/shaders/elementwise.ts";
import { sumAxis } from "../../gpu/shaders/reduce.ts";
import { broadcastStrides, sameShape, type Shape, sizeOf, splitAt } from "../shape.ts";
import { type Bound, grid1d, kernel, launch } from "./launch.ts";

/** A shape as an array<vec4u, 2> uniform, its unused trailing entries 1. */
export function shapeField(shape: Shape): number[] {
  return [...shape, ...new Array<number>(Math.max(0, MAX_RANK - shape.length)).fill(1)];
}

/** Fills t with a value (f32, or the bit pattern of an i32). */
export function fillInto<T extends Bound>(t: T, value: number): T {
  const bits = new Uint32Array(new (t.dtype === "f32" ? Float32Array : Int32Array)([value]).buffer);
  launch(kernel("fill", fill), [t], grid1d(t.size), { n: t.size, value: bits[0] });
  return t;
}

/** dst[dstOff + idx·dstStrides] = src[srcOff + idx·srcStrides] over every idx of `shape`. */
export function copyStrided(
  src: Bound,
  srcOff: number,
  srcStrides: readonly number[],
  dst: Bound,
  dstOff: number,
  dstStrides: readonly number[],
  shape: Shape,
): void {
  if (shape.length > MAX_RANK) throw new Error(`rank ${shape.length} > ${MAX_RANK} unsupported`);
  const n = sizeOf(shape);
  if (n === 0) return;
  launch(kernel("strided_copy", stridedCopy), [src, dst], grid1d(n), {
    n,
    rank: shape.length,
    srcOff,
    dstOff,
    shape: shapeField(shape),
    sa: srcStrides,
    sb: dstStrides,
  });
}

/** out = a (op) b, broadcasting both to out's shape. */
export function binaryInto(name: BinaryName, a: Bound, b: Bound, out: Bound): void {
  const shape = out.shape;
  const same = sameShape(a.shape, shape) && sameShape(b.shape, shape);
  launch(kernel(`${name}.${same}`, () => binary(name, !same)), [a, b, out], grid1d(out.size), {
    n: out.size,
    rank: shape.length,
    shape: shapeField(shape),
    sa: broadcastStrides(a.shape, shape),
    sb: broadcastStrides(b.shape, shape),
    sc: [], // unused: a binary kernel reads two inputs
  });
}

/** out = scale · Σ x over `axis` (out holds x's shape without that axis, or with it as 1). */
export function sumAxisInto(x: Bound, axis: number, out: Bound, scale: number): void {
  const { outer, R, inner } = splitAt(x.shape, axis);
  const n = outer * inner;
  launch(kernel("sum_axis", sumAxis), [x, out], grid1d(n), { n, R, inner, scale });
}
