// Elementwise ops: the unary table, broadcasting binary ops (a number is accepted for either
// operand), where/mask and clamp.

import { stridesOf } from "../../gpu/shaders/common.ts";
import {
  type BinaryName,
  unaryBackward,
  unaryForward,
  type UnaryName,
  where as whereKernel,
} from "../../gpu/shaders/elementwise.ts";
import { broadcastShapes, broadcastStrides } from "../shape.ts";
import { adopt, record, type Shape, Tensor } from "../tensor.ts";
import { assertF32, grid1d, kernel, launch } from "./launch.ts";
import { sumTo } from "./movement.ts";
import { binaryInto, shapeField } from "./prims.ts";

function unary(name: UnaryName, x: Tensor, p0 = 0, p1 = 0): Tensor {
  assertF32(name, x);
  const y = Tensor.empty(x.shape);
  const n = x.size;
  const uni = { n, p0, p1 };
  launch(kernel(`${name}.fwd`, () => unaryForward(name)), [x, y], grid1d(n), uni);
  return record(y, name, [x], (dy) => {
    const dx = Tensor.empty(x.shape);
    launch(kernel(`${name}.bwd`, () => unaryBackward(name)), [x, y, dy, dx], grid1d(n), uni);
    return [dx];
  });
}

/** -x, elementwise. */
export const neg = (x: Tensor): Tensor => unary("neg", x);
/** eˣ, elementwise. */
export const exp = (x: Tensor): Tensor => unary("exp", x);
/** The natural logarithm, elementwise. */
export const log = (x: Tensor): Tensor => unary("log", x);
/** The square root, elementwise. */
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
/** The hyperbolic tangent, elementwise. */
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
/** The logistic function 1 / (1 + e⁻ˣ), elementwise. */
export const sigmoid = (x: Tensor): Tensor => unary("sigmoid", x);
/** max(x, 0), elementwise. */
export const relu = (x: Tensor): Tensor => unary("relu", x);
/** CLIP's activation: x · σ(1.702 x). */
export const quickGelu = (x: Tensor): Tensor => unary("quickGelu", x);
/** The exact (erf) GELU, PyTorch's default. */
export const gelu = (x: Tensor): Tensor => unary("gelu", x);
/** x ** p for a scalar exponent (negative bases need an integral p, as in PyTorch). */
export const pow = (x: Tensor, p: number): Tensor => unary("pow", x, p);
/** Values clipped to [lo, hi]; the gradient passes where lo <= x <= hi. */
export const clamp = (x: Tensor, lo: number, hi: number): Tensor => unary("clamp", x, lo, hi);
/** x · scale + shift, one kernel. */
export const affine = (x: Tensor, scale: number, shift: number): Tensor =>
  unary("affine", x, scale, shift);

function binaryOp(name: BinaryName, a: Tensor, b: Tensor): Tensor {
  assertF32(name, a, b);
  const out = Tensor.empty(broadcastShapes(name, a.shape, b.shape));
  binaryInto(name, a, b, out);
  return out;
}

/** An operand of the binary ops: a tensor, or a number that broadcasts like a scalar tensor. */
export type Operand = Tensor | number;

function scalarCase(
  a: Operand,
  b: Operand,
  onTensorScalar: (t: Tensor, s: number) => Tensor,
  onScalarTensor: (s: number, t: Tensor) => Tensor,
): Tensor | null {
  if (typeof a === "number" && typeof b === "number") {
    throw new Error("elementwise op: at least one operand must be a Tensor");
  }
  if (typeof b === "number") return onTensorScalar(a as Tensor, b);
  if (typeof a === "number") return onScalarTensor(a, b);
  return null;
}

/** a + b, elementwise with broadcasting; either operand may be a number. */
export function add(a: Operand, b: Operand): Tensor {
  const s = scalarCase(a, b, (t, v) => affine(t, 1, v), (v, t) => affine(t, 1, v));
  if (s) return s;
  const [x, y] = [a as Tensor, b as Tensor];
  return record(
    binaryOp("add", x, y),
    "add",
    [x, y],
    (g) => [sumTo(g, x.shape), sumTo(g, y.shape)],
  );
}

/** a - b, elementwise with broadcasting; either operand may be a number. */
export function sub(a: Operand, b: Operand): Tensor {
  const s = scalarCase(a, b, (t, v) => affine(t, 1, -v), (v, t) => affine(t, -1, v));
  if (s) return s;
  const [x, y] = [a as Tensor, b as Tensor];
  return record(binaryOp("sub", x, y), "sub", [x, y], (g) => {
    const ng = y.requiresGrad ? neg(g) : null;
    const gy = ng ? sumTo(ng, y.shape) : null;
    if (ng && gy !== ng) ng.dispose();
    return [sumTo(g, x.shape), gy];
  });
}

/** a · b, elementwise with broadcasting; either operand may be a number. */
export function mul(a: Operand, b: Operand): Tensor {
  const s = scalarCase(a, b, (t, v) => affine(t, v, 0), (v, t) => affine(t, v, 0));
  if (s) return s;
  const [x, y] = [a as Tensor, b as Tensor];
  return record(binaryOp("mul", x, y), "mul", [x, y], (g) => [
    x.requiresGrad ? reduced(binaryOp("mul", g, y), x.shape) : null,
    y.requiresGrad ? reduced(binaryOp("mul", g, x), y.shape) : null,
  ]);
}

/** a / b, elementwise with broadcasting; either operand may be a number. */
export function div(a: Operand, b: Operand): Tensor {
  const s = scalarCase(a, b, (t, v) => affine(t, 1 / v, 0), (v, t) => {
    const inv = pow(t, -1);
    return adopt(mul(inv, v), [inv]);
  });
  if (s) return s;
  const [x, y] = [a as Tensor, b as Tensor];
  const out = binaryOp("div", x, y);
  return record(out, "div", [x, y], (g) => {
    const gx = x.requiresGrad || y.requiresGrad ? binaryOp("div", g, y) : null;
    let gy: Tensor | null = null;
    if (y.requiresGrad) {
      // d(x/y)/dy = -(x/y)/y · g = -(g/y) · out
      const t = binaryOp("mul", gx!, out);
      gy = reduced(neg(t), y.shape);
      t.dispose();
    }
    const rx = x.requiresGrad ? reduced(gx!, x.shape) : null;
    if (!x.requiresGrad) gx?.dispose();
    return [rx, gy];
  });
}

/** 1 where a == b, else 0 (no gradient). */
export const equal = (a: Tensor, b: Tensor): Tensor => binaryOp("eq", a, b);
/** 1 where a > b, else 0 (no gradient). */
export const greater = (a: Tensor, b: Tensor): Tensor => binaryOp("gt", a, b);

/** sumTo that frees its input when it had to make a new tensor. */
function reduced(t: Tensor, shape: Shape): Tensor {
  const r = sumTo(t, shape);
  if (r !== t) t.dispose();
  return r;
}

function whereRaw(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes("where", broadcastShapes("where", cond.shape, a.shape), b.shape);
  const out = Tensor.empty(shape);
  launch(kernel("where", whereKernel), [cond, a, b, out], grid1d(out.size), {
    n: out.size,
    rank: shape.length,
    shape: shapeField(shape),
    sa: broadcastStrides(cond.shape, shape),
    sb: broadcastStrides(a.shape, shape),
    sc: broadcastStrides(b.shape, shape),
  });
  return out;
}

/** cond != 0 ? a : b, broadcasting all three (cond is a 0/1 mask, never differentiated). */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  assertF32("where", cond);
  const ta = typeof a === "number" ? Tensor.from([a], []) : a;
  const tb = typeof b === "number" ? Tensor.from([b], []) : b;
  const out = whereRaw(cond, ta, tb);
  const result = record(out, "where", [ta, tb], (g) => {
    const z = Tensor.from([0], []);
    const ga = ta.requiresGrad ? reduced(whereRaw(cond, g, z), ta.shape) : null;
    const gb = tb.requiresGrad ? reduced(whereRaw(cond, z, g), tb.shape) : null;
    z.dispose();
    return [ga, gb];
  });
  // Scalars made here are not needed by the backward (which only reads their flags and shape).
  if (ta !== a) ta.dispose();
  if (tb !== b) tb.dispose();
  return result;
}

/** Contiguous strides (re-exported for ops that need them). */
export { stridesOf };
