// Reductions over one axis (or all axes): sum, mean, max.

import { maxAxis, maxAxisBackward, sumAxis } from "../../gpu/shaders/reduce.ts";
import { noGrad, record, type Shape, Tensor } from "../tensor.ts";
import { affine } from "./elementwise.ts";
import { assertF32, grid1d, kernel, launch, normAxis } from "./launch.ts";
import { broadcastTo, late, reshape } from "./movement.ts";

function split(shape: Shape, ax: number): { outer: number; R: number; inner: number } {
  let outer = 1, inner = 1;
  for (let d = 0; d < ax; d++) outer *= shape[d];
  for (let d = ax + 1; d < shape.length; d++) inner *= shape[d];
  return { outer, R: shape[ax], inner };
}

function reducedShape(shape: Shape, ax: number, keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (i === ax ? 1 : d)) : shape.filter((_, i) => i !== ax);
}

function sumRaw(x: Tensor, ax: number, keepdim: boolean, scale: number): Tensor {
  const { outer, R, inner } = split(x.shape, ax);
  const out = Tensor.empty(reducedShape(x.shape, ax, keepdim));
  const n = outer * inner;
  launch(kernel("sum_axis", sumAxis), [x, out], grid1d(n), (u) => u.u32(n, R, inner).f32(scale));
  return out;
}

late.sumAxisKeep = (x, axis) => sumRaw(x, axis, true, 1);

function sumOrMean(op: "sum" | "mean", x: Tensor, axis?: number, keepdim = false): Tensor {
  assertF32(op, x);
  if (axis === undefined) return sumOrMean(op, reshape(x, [x.size]), 0, keepdim);
  const ax = normAxis(op, axis, x.rank);
  const R = x.shape[ax];
  const scale = op === "mean" ? 1 / R : 1;
  const out = sumRaw(x, ax, keepdim, scale);
  return record(out, op, [x], (g) => {
    const gk = g.view(reducedShape(x.shape, ax, true));
    const spread = broadcastTo(gk, x.shape);
    gk.dispose();
    if (scale === 1) return [spread];
    const scaled = affineRaw(spread, scale);
    spread.dispose();
    return [scaled];
  });
}

/** Sum over `axis` (all axes when omitted). */
export const sum = (x: Tensor, axis?: number, keepdim = false): Tensor =>
  sumOrMean("sum", x, axis, keepdim);
/** Mean over `axis` (all axes when omitted). */
export const mean = (x: Tensor, axis?: number, keepdim = false): Tensor =>
  sumOrMean("mean", x, axis, keepdim);

/** Max over `axis` (all axes when omitted); the gradient goes to the first maximal element. */
export function max(x: Tensor, axis?: number, keepdim = false): Tensor {
  assertF32("max", x);
  if (axis === undefined) return max(reshape(x, [x.size]), 0, keepdim);
  const ax = normAxis("max", axis, x.rank);
  const { outer, R, inner } = split(x.shape, ax);
  if (R === 0) throw new Error(`max: axis ${axis} of ${x} is empty`);
  const out = Tensor.empty(reducedShape(x.shape, ax, keepdim));
  const idx = Tensor.empty(out.shape, "i32");
  const n = outer * inner;
  launch(kernel("max_axis", maxAxis), [x, out, idx], grid1d(n), (u) => u.u32(n, R, inner).f32(1));
  const result = record(out, "max", [x], (g) => {
    const dx = Tensor.empty(x.shape);
    launch(
      kernel("max_axis.bwd", maxAxisBackward),
      [g, idx, dx],
      grid1d(x.size),
      (u) => u.u32(x.size, R, inner).f32(1),
    );
    return [dx];
  });
  if (!result.node) idx.dispose();
  return result;
}

/** Scaling without recording (used inside backward functions). */
function affineRaw(x: Tensor, scale: number): Tensor {
  return noGrad(() => affine(x, scale, 0));
}
