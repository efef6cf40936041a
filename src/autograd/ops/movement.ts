// Shape and movement ops. All copies go through the one strided-copy kernel; reshape is free.

import { stridesOf } from "../../gpu/shaders/common.ts";
import { broadcastShapes, broadcastStrides } from "../shape.ts";
import { record, type Shape, shapeStr, sizeOf, Tensor } from "../tensor.ts";
import { normAxis } from "./launch.ts";
import { copyStrided, fillInto, sumAxisInto } from "./prims.ts";

export { broadcastShapes, broadcastStrides, copyStrided };

/** Fills t with a value (f32, or the bit pattern of an i32). */
export const fillInPlace = (t: Tensor, value: number): Tensor => fillInto(t, value);

/** A new f32 tensor of `shape` filled with `value`. */
export function full(shape: Shape, value: number): Tensor {
  return fillInPlace(Tensor.empty(shape), value);
}
/** A new f32 tensor of `shape` filled with 0. */
export const zeros = (shape: Shape): Tensor => full(shape, 0);
/** A new f32 tensor of `shape` filled with 1. */
export const ones = (shape: Shape): Tensor => full(shape, 1);
/** Zeros of t's shape. */
export const zerosLike = (t: Tensor): Tensor => zeros(t.shape);
/** Ones of t's shape. */
export const onesLike = (t: Tensor): Tensor => ones(t.shape);

/** A new tensor with the same values (not recorded). */
export function copy(t: Tensor): Tensor {
  const out = Tensor.empty(t.shape, t.dtype);
  const s = stridesOf(t.shape);
  copyStrided(t, 0, s, out, 0, s, t.shape);
  return out;
}

function resolveShape(op: string, size: number, shape: Shape): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const rest = out.reduce((p, d, i) => (i === free ? p : p * d), 1);
    out[free] = rest === 0 ? 0 : size / rest;
  }
  if (sizeOf(out) !== size || !out.every(Number.isInteger)) {
    throw new Error(`${op}: cannot reshape ${size} elements to ${shapeStr(shape)}`);
  }
  return out;
}

/** Same data in a new shape (one dimension may be -1). No copy. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const out = x.view(resolveShape("reshape", x.size, shape));
  return record(out, "reshape", [x], (g) => [g.view(x.shape)]);
}

/** The axes of x reordered: axis i of the result is axis `perm[i]` of x (a copy). */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  checkPermutation("permute", x, perm);
  const inStrides = stridesOf(x.shape);
  const shape = perm.map((p) => x.shape[p]);
  const out = Tensor.empty(shape, x.dtype);
  copyStrided(x, 0, perm.map((p) => inStrides[p]), out, 0, stridesOf(shape), shape);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return record(out, "permute", [x], (g) => [permute(g, inverse)]);
}

function checkPermutation(op: string, x: Tensor, perm: readonly number[]): void {
  if (perm.length !== x.rank || [...perm].sort().some((p, i) => p !== i)) {
    throw new Error(`${op}: [${perm}] is not a permutation of the ${x.rank} axes of ${x}`);
  }
}

/** Swaps two axes (default: the last two). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const perm = x.shape.map((_, i) => i);
  const i = normAxis("transpose", a, x.rank), j = normAxis("transpose", b, x.rank);
  [perm[i], perm[j]] = [perm[j], perm[i]];
  return permute(x, perm);
}

/** Elements start..end-1 along `axis` (negative indices count from the end). */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  return slicePermuted("slice", x, axis, start, end, x.shape.map((_, i) => i));
}

/**
 * permute(slice(x, axis, start, end), perm) in one copy: attention takes its q, k and v heads
 * straight from the packed projection this way, without a permuted copy of the whole.
 */
export function slicePermute(
  x: Tensor,
  axis: number,
  start: number,
  end: number | undefined,
  perm: readonly number[],
): Tensor {
  return slicePermuted("slicePermute", x, axis, start, end, perm);
}

function slicePermuted(
  op: string,
  x: Tensor,
  axis: number,
  start: number,
  end: number | undefined,
  perm: readonly number[],
): Tensor {
  const ax = normAxis(op, axis, x.rank);
  const dim = x.shape[ax];
  const s = start < 0 ? start + dim : start;
  const e = end === undefined ? dim : end < 0 ? end + dim : end;
  if (s < 0 || e > dim || s > e) {
    throw new Error(`${op}: [${start}, ${end}) is out of range for axis ${axis} of ${x}`);
  }
  checkPermutation(op, x, perm);
  const strides = stridesOf(x.shape);
  const shape = perm.map((p) => (p === ax ? e - s : x.shape[p]));
  const from = perm.map((p) => strides[p]), at = s * strides[ax];
  const out = Tensor.empty(shape, x.dtype);
  copyStrided(x, at, from, out, 0, stridesOf(shape), shape);
  return record(out, op, [x], (g) => {
    const dx = zeros(x.shape);
    copyStrided(g, 0, stridesOf(shape), dx, at, from, shape);
    return [dx];
  });
}

/** The tensors joined along `axis` (their other dimensions must match). */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error("concat: no tensors");
  const ax = normAxis("concat", axis, xs[0].rank);
  for (const t of xs) {
    if (t.rank !== xs[0].rank || t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) {
      throw new Error(`concat: ${t} does not match ${xs[0]} outside axis ${axis}`);
    }
  }
  const shape = xs[0].shape.map((d, i) => (i === ax ? xs.reduce((p, t) => p + t.shape[ax], 0) : d));
  const out = Tensor.empty(shape, xs[0].dtype);
  const outStrides = stridesOf(shape);
  const starts: number[] = [];
  let at = 0;
  for (const t of xs) {
    starts.push(at);
    copyStrided(t, 0, stridesOf(t.shape), out, at * outStrides[ax], outStrides, t.shape);
    at += t.shape[ax];
  }
  return record(out, "concat", xs, (g) =>
    xs.map((t, i) => {
      const part = Tensor.empty(t.shape);
      copyStrided(g, starts[i] * outStrides[ax], outStrides, part, 0, stridesOf(t.shape), t.shape);
      return part;
    }));
}

/** x repeated along its size-1 (or missing leading) axes to `shape`, NumPy-style (a copy). */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const target = broadcastShapes("broadcastTo", x.shape, shape);
  if (target.length !== shape.length || target.some((d, i) => d !== shape[i])) {
    throw new Error(`broadcastTo: ${x} cannot broadcast to ${shapeStr(shape)}`);
  }
  const out = Tensor.empty(shape, x.dtype);
  copyStrided(x, 0, broadcastStrides(x.shape, shape), out, 0, stridesOf(shape), shape);
  return record(out, "broadcastTo", [x], (g) => [sumTo(g, x.shape)]);
}

/** Sums a broadcast result back to `shape` (the gradient of broadcasting). Not recorded. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  let t = g;
  for (let d = 0; d < g.rank; d++) {
    const target = d < lead ? 1 : shape[d - lead];
    if (g.shape[d] === target) continue;
    if (target !== 1) throw new Error(`sumTo: ${g} cannot reduce to ${shapeStr(shape)}`);
    const next = Tensor.empty(t.shape.map((s, i) => (i === d ? 1 : s)));
    sumAxisInto(t, d, next, 1);
    if (t !== g) t.dispose();
    t = next;
  }
  const out = t.view(shape);
  if (t !== g) t.dispose();
  return out;
}
