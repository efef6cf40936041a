// Reductions over one axis (or all axes): sum, mean, max.

import { maxAxis, maxAxisBackward } from "../../gpu/shaders/reduce.ts";
import { splitAt } from "../shape.ts";
import { adopt, noGrad, record, type Shape, Tensor } from "../tensor.ts";
import { affine } from "./elementwise.ts";
import { assertF32, grid1d, kernel, launch, normAxis } from "./launch.ts";
import { broadcastTo, reshape } from "./movement.ts";
import { sumAxisInto } from "./prims.ts";

function reducedShape(shape: Shape, ax: number, keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (i === ax ? 1 : d)) : shape.filter((_, i) => i !== ax);
}

function sumRaw(x: Tensor, ax: number, keepdim: boolean, scale: number): Tensor {
  const out = Tensor.empty(reducedShape(x.shape, ax, keepdim));
  sumAxisInto(x, ax, out, scale);
  return out;
}

/** An op over all axes: `op` over axis 0 of x flattened (the flat view is the node's). */
function overAll(x: Tensor, op: (flat: Tensor) => Tensor): Tensor {
  const flat = reshape(x, [x.size]);
  return adopt(op(flat), [flat]);
}

function sumOrMean(op: "sum" | "mean", x: Tensor, axis?: number, keepdim = false): Tensor {
  assertF32(op, x);
  if (axis === undefined) return overAll(x, (flat) => sumOrMean(op, flat, 0, keepdim));
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
  if (axis === undefined) return overAll(x, (flat) => max(flat, 0, keepdim));
  const ax = normAxis("max", axis, x.rank);
  const { outer, R, inner } = splitAt(x.shape, ax);
  if (R === 0) throw new Error(`max: axis ${axis} of ${x} is empty`);
  const out = Tensor.empty(reducedShape(x.shape, ax, keepdim));
  const idx = Tensor.empty(out.shape, "i32");
  const n = outer * inner;
  launch(kernel("max_axis", maxAxis), [x, out, idx], grid1d(n), { n, R, inner, scale: 1 });
  return record(out, "max", [x], (g) => {
    const dx = Tensor.empty(x.shape);
    launch(kernel("max_axis.bwd", maxAxisBackward), [g, idx, dx], grid1d(x.size), {
      n: x.size,
      R,
      inner,
      scale: 1,
    });
    return [dx];
  }, [idx]);
}

/** Scaling without recording (used inside backward functions). */
function affineRaw(x: Tensor, scale: number): Tensor {
  return noGrad(() => affine(x, scale, 0));
}
