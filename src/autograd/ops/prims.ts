// The primitive launches that both the tape (tensor.ts) and the ops need: fill, strided copy,
// binary elementwise and the axis sum, each writing into an output the caller made. Like
// launch.ts it sees tensors structurally, so tensor.ts imports it without a cycle.

import { MAX_RANK } from "../../gpu/shaders/common.ts";
import {
  binary,
  type BinaryName,
  fill,
  stridedCopy,
  transposeCopy4,
  VEC4_BINARY,
} from "../../gpu/shaders/elementwise.ts";
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
  if (t.size % 4 === 0) {
    launch(kernel("fill.4", () => fill(true)), [t], grid1d(t.size / 4), {
      n: t.size / 4,
      value: bits[0],
    });
  } else launch(kernel("fill", () => fill()), [t], grid1d(t.size), { n: t.size, value: bits[0] });
  return t;
}

/**
 * The same index space with fewer axes: size-1 axes dropped, and neighbours merged wherever every
 * operand's strides allow it (outer stride = inner stride × inner size). Each axis of a strided
 * kernel costs an integer division per element, the dearest thing it does on a CPU adapter.
 */
export function coalesceAxes(
  shape: Shape,
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [], outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k][last] === s[d] * shape[d])) {
      outShape[last] *= shape[d];
      strides.forEach((s, k) => outStrides[k][last] = s[d]);
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}

/**
 * The index space in vec4s, when every operand reads its innermost axis contiguously and whole
 * vec4s at a time (that axis a multiple of 4; every other stride and offset too); else null.
 */
export function vec4Axes(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  offsets: readonly number[] = [],
): { shape: number[]; strides: number[][]; offsets: number[] } | null {
  const r = shape.length;
  if (shape[r - 1] % 4 !== 0) return null;
  const aligned = (s: readonly number[]) =>
    s[r - 1] === 1 && s.slice(0, -1).every((x) => x % 4 === 0);
  if (!strides.every(aligned) || !offsets.every((o) => o % 4 === 0)) return null;
  return {
    shape: [...shape.slice(0, -1), shape[r - 1] / 4],
    strides: strides.map((s) => [...s.slice(0, -1).map((x) => x / 4), 1]),
    offsets: offsets.map((o) => o / 4),
  };
}

/**
 * The index space in 4 × 4 blocks when the copy transposes its last two axes (P, Q): P contiguous
 * in the source, Q in the destination, both multiples of 4, every other stride and offset too.
 * Strides in vec4s: source [.., 1, sQ], destination [.., dP, 1] for the block axes.
 */
export function transposeBlocks(
  shape: readonly number[],
  [src, dst]: readonly (readonly number[])[],
  offsets: readonly number[],
): { shape: number[]; strides: number[][]; offsets: number[] } | null {
  const r = shape.length;
  if (r < 2 || shape[r - 2] % 4 !== 0 || shape[r - 1] % 4 !== 0) return null;
  if (src[r - 2] !== 1 || dst[r - 1] !== 1) return null;
  const rest = [...src.slice(0, -2), src[r - 1], ...dst.slice(0, -2), dst[r - 2], ...offsets];
  if (rest.some((x) => x % 4 !== 0)) return null;
  return {
    shape: [...shape.slice(0, -2), shape[r - 2] / 4, shape[r - 1] / 4],
    strides: [
      [...src.slice(0, -2).map((x) => x / 4), 1, src[r - 1]],
      [...dst.slice(0, -2).map((x) => x / 4), dst[r - 2], 1],
    ],
    offsets: offsets.map((o) => o / 4),
  };
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
  const c = coalesceAxes(shape, [srcStrides, dstStrides]);
  const v = vec4Axes(c.shape, c.strides, [srcOff, dstOff]);
  const t = v ? null : transposeBlocks(c.shape, c.strides, [srcOff, dstOff]);
  const { shape: sh, strides: [sa, sb], offsets: [so, dOff] } = v ?? t ??
    { ...c, offsets: [srcOff, dstOff] };
  const k = v
    ? kernel("strided_copy.4", () => stridedCopy(true))
    : t
    ? kernel("transpose_copy.4", transposeCopy4)
    : kernel("strided_copy", () => stridedCopy());
  const items = v ? n / 4 : t ? n / 16 : n;
  launch(k, [src, dst], grid1d(items), {
    n: items,
    rank: sh.length,
    srcOff: so,
    dstOff: dOff,
    shape: shapeField(sh),
    sa,
    sb,
  });
}

/** out = a (op) b, broadcasting both to out's shape. */
export function binaryInto(name: BinaryName, a: Bound, b: Bound, out: Bound): void {
  const shape = out.shape;
  const same = sameShape(a.shape, shape) && sameShape(b.shape, shape);
  const c = coalesceAxes(shape, [
    broadcastStrides(a.shape, shape),
    broadcastStrides(b.shape, shape),
  ]);
  const v = VEC4_BINARY.includes(name) ? vec4Axes(c.shape, c.strides) : null;
  const [sh, [sa, sb]] = v ? [v.shape, v.strides] : [c.shape, c.strides];
  const k = v
    ? kernel(`${name}.${same}.4`, () => binary(name, !same, true))
    : kernel(`${name}.${same}`, () => binary(name, !same));
  const items = v ? out.size / 4 : out.size;
  launch(k, [a, b, out], grid1d(items), {
    n: items,
    rank: sh.length,
    shape: shapeField(sh),
    sa,
    sb,
    sc: [], // unused: a binary kernel reads two inputs
  });
}

/** out = scale · Σ x over `axis` (out holds x's shape without that axis, or with it as 1). */
export function sumAxisInto(x: Bound, axis: number, out: Bound, scale: number): void {
  const { outer, R, inner } = splitAt(x.shape, axis);
  const n = outer * inner;
  launch(kernel("sum_axis", sumAxis), [x, out], grid1d(n), { n, R, inner, scale });
}
