// Tensor: a contiguous f32 (or i32, for indices) array on the GPU, plus the tape.
// Eager: every op dispatches at once into the open encoder; nothing is read back until asked.
// Memory is explicit: `tidy(fn)` frees every tensor made inside except what fn returns or keeps,
// `dispose()` frees one. Reshapes share storage (reference-counted). A recorded op's node owns
// what only its backward needs, and frees it with itself (`record`, `adopt`).

import { type BufferRef, rt } from "../gpu/runtime.ts";
import { stridesOf } from "../gpu/shaders/common.ts";
import { checkNonFinite, nanCheckRegion } from "./nancheck.ts";
import { binaryInto, copyStrided, fillInto } from "./ops/prims.ts";
import { broadcastShapes, type DType, sameShape, type Shape, shapeStr, sizeOf } from "./shape.ts";

export { type DType, sameShape, type Shape, shapeStr, sizeOf };

class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer, readonly bytes: number) {}
  release(): void {
    if (--this.refs === 0) rt().pool.release(this.buffer);
  }
}

/** A recorded op: its inputs and a function from the output's gradient to the inputs'. */
export interface TapeNode {
  /** The op's name ("matmul", "add", ...). */
  op: string;
  /** The op's tensor inputs. */
  inputs: readonly Tensor[];
  /** From the output's gradient to each input's (null where an input needs none). */
  backward: (grad: Tensor) => readonly (Tensor | null)[];
  /** Tensors that live as long as the node (what `backward` reads and nothing else holds). */
  owned: Tensor[];
}

let gradEnabled = true;
const scopes: Set<Tensor>[] = [];
let nextId = 1;

/** Options of {@link Tensor.from}. */
export interface TensorOptions {
  /** Record ops on this leaf, so that `backward()` fills its `grad` (f32 only; default false). */
  requiresGrad?: boolean;
  /** "f32" (default) or "i32" (indices, labels). */
  dtype?: DType;
}

/**
 * A contiguous row-major f32 (or i32) array on the GPU, with the tape that `backward()` follows.
 * Ops dispatch at once and nothing is read back until `toArray()`, `item()` or `readTensors`.
 * Memory is explicit: `tidy(fn)` frees what `fn` made and did not return, `dispose()` frees one.
 * The GPU must be open (`await initGpu()`, or `loadClip` / `runWithGpu`) before the first tensor.
 */
export class Tensor {
  /** A process-unique number (names the tensor in errors). */
  readonly id: number = nextId++;
  /** The dimensions, outermost first (frozen). */
  readonly shape: Shape;
  /** The number of elements (product of `shape`). */
  readonly size: number;
  /** The element type: "f32" or "i32". */
  readonly dtype: DType;
  /** Whether ops record this tensor on the tape (leaves set it through `Tensor.from`). */
  requiresGrad: boolean;
  /** Accumulated gradient of a leaf after `backward()`. */
  grad: Tensor | null = null;
  /** The op that made this tensor, while its graph is alive. */
  node: TapeNode | null = null;
  #storage: Storage | null;

  private constructor(shape: Shape, dtype: DType, storage: Storage, requiresGrad: boolean) {
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    this.dtype = dtype;
    this.#storage = storage;
    this.requiresGrad = requiresGrad;
    scopes.at(-1)?.add(this);
  }

  /** Uploads `data` (row-major) as a tensor of `shape`. */
  static from(data: ArrayLike<number>, shape: Shape, opts: TensorOptions = {}): Tensor {
    const dtype = opts.dtype ?? "f32";
    const n = sizeOf(shape);
    if (data.length !== n) {
      throw new Error(
        `Tensor.from: ${data.length} values do not fill shape ${shapeStr(shape)} (${n} needed)`,
      );
    }
    const t = Tensor.empty(shape, dtype, true);
    const arr = dtype === "f32"
      ? (data instanceof Float32Array ? data : Float32Array.from(data))
      : (data instanceof Int32Array ? data : Int32Array.from(data));
    if (n > 0) rt().upload(t.buffer, arr);
    if (opts.requiresGrad) {
      if (dtype !== "f32") throw new Error("Tensor.from: only f32 tensors can require grad");
      t.requiresGrad = true;
    }
    return t;
  }

  /** An uninitialised tensor (ops write it). `forUpload` picks a buffer safe for writeBuffer. */
  static empty(shape: Shape, dtype: DType = "f32", forUpload = false): Tensor {
    const bytes = Math.max(4, sizeOf(shape) * 4);
    const buffer = rt().pool.acquire(bytes, forUpload);
    return new Tensor(shape, dtype, new Storage(buffer, bytes), false);
  }

  /** The GPU buffer that holds the data (throws once the tensor is disposed). */
  get buffer(): GPUBuffer {
    if (!this.#storage) throw new Error(`tensor #${this.id} ${shapeStr(this.shape)} was disposed`);
    return this.#storage.buffer;
  }

  /** The buffer with the byte size this tensor uses, for kernel bindings. */
  get ref(): BufferRef {
    return { buffer: this.buffer, size: Math.max(4, this.size * 4), float: this.dtype === "f32" };
  }

  /**
   * Overwrites the values from the host (a parameter projected on the CPU). The commands encoded
   * so far are submitted first: they see the old values, later ones the new.
   */
  write(data: Float32Array): void {
    if (data.length !== this.size) {
      throw new Error(`write: ${data.length} values for tensor ${shapeStr(this.shape)}`);
    }
    rt().flush();
    rt().upload(this.buffer, data);
  }

  /** Whether `dispose()` has freed this tensor. */
  get disposed(): boolean {
    return this.#storage === null;
  }

  /** The number of dimensions. */
  get rank(): number {
    return this.shape.length;
  }

  /** Same data, new shape (no copy). */
  view(shape: Shape): Tensor {
    if (sizeOf(shape) !== this.size) {
      throw new Error(`cannot view ${shapeStr(this.shape)} as ${shapeStr(shape)}`);
    }
    const s = this.#storage;
    if (!s) throw new Error(`tensor #${this.id} was disposed`);
    s.refs++;
    return new Tensor(shape, this.dtype, s, false);
  }

  /** Frees the tensor's storage (shared views keep it alive) and its tape node; idempotent. */
  dispose(): void {
    if (!this.#storage) return;
    this.#storage.release();
    this.#storage = null;
    for (const s of scopes) s.delete(this);
    dropNode(this);
  }

  /** Keeps this tensor alive past the enclosing `tidy`. */
  keep(): this {
    for (const s of scopes) s.delete(this);
    return this;
  }

  /** Reads the values back (one GPU round trip; i32 tensors come back as floats). */
  async toArray(): Promise<Float32Array> {
    const [data] = await readTensors([this]);
    return data;
  }

  /** Reads an i32 tensor's values back. */
  async toInt32Array(): Promise<Int32Array> {
    if (this.dtype !== "i32") throw new Error("toInt32Array: tensor is not i32");
    const [buf] = await rt().read([{ buffer: this.buffer, bytes: this.size * 4 }]);
    return new Int32Array(buf);
  }

  /** Reads the value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) {
      throw new Error(`item() needs one element, tensor is ${shapeStr(this.shape)}`);
    }
    return (await this.toArray())[0];
  }

  /** Reverse-mode differentiation from this tensor; leaves that require grad get `.grad`. */
  backward(seed?: Tensor): void {
    backwardFrom(this, seed);
  }

  /** "Tensor#12[2, 3] grad": id, shape and whether it requires grad. */
  toString(): string {
    return `Tensor#${this.id}${shapeStr(this.shape)}${this.requiresGrad ? " grad" : ""}`;
  }
}

/** Reads several tensors with one GPU round trip (and checks for NaN when that is on). */
export async function readTensors(ts: readonly Tensor[]): Promise<Float32Array[]> {
  const regions = ts.map((t) => ({ buffer: t.buffer, bytes: t.size * 4 }));
  const check = nanCheckRegion();
  const bufs = await rt().read(check ? [...regions, check] : regions);
  if (check) checkNonFinite(bufs.pop()!);
  return bufs.map((b, i) =>
    ts[i].dtype === "f32" ? new Float32Array(b) : Float32Array.from(new Int32Array(b))
  );
}

/** Whether ops record the tape (false inside `noGrad`). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording the tape. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** What a `tidy` function may return: tensors (kept), nested in arrays or objects, or nothing. */
export type Returned = Tensor | readonly Returned[] | { [k: string]: Returned } | void | number;

function collect(x: unknown, out: Set<Tensor>): void {
  if (x instanceof Tensor) out.add(x);
  else if (Array.isArray(x)) { for (const v of x) collect(v, out); }
  else if (x && typeof x === "object") { for (const v of Object.values(x)) collect(v, out); }
}

/**
 * Runs fn in a memory scope: every tensor created inside and not returned (or kept) is disposed
 * on exit. fn must be synchronous (the scope cannot follow awaits).
 */
export function tidy<T extends Returned>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error("tidy: fn must not be async");
  } finally {
    scopes.pop();
  }
  const keepers = new Set<Tensor>();
  collect(result, keepers);
  for (const t of scope) {
    if (!keepers.has(t)) t.dispose();
    else scopes.at(-1)?.add(t);
  }
  return result;
}

/**
 * Records `out` on the tape when grad is on and some input requires it. Returns `out`.
 * `saved`: tensors made for `backward` alone (statistics, indices), which the node owns (`adopt`).
 */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  backward: TapeNode["backward"],
  saved: readonly Tensor[] = [],
): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward, owned: [] };
  }
  return adopt(out, saved);
}

/**
 * Hands `ts` to out's node: they are freed at once when nothing was recorded, else when the node
 * goes: when out is disposed, or at the end of the backward pass that ran it (not sooner: the
 * intermediates of an op built from other ops are read by inner nodes that run later in the
 * pass). Until then no tidy frees them, since backward may still need them. Returns out.
 */
export function adopt(out: Tensor, ts: readonly Tensor[]): Tensor {
  const node = out.node;
  for (const t of ts) {
    if (node) node.owned.push(t.keep());
    else t.dispose();
  }
  return out;
}

/** Detaches t's node and frees what it owned. */
function dropNode(t: Tensor): void {
  const node = t.node;
  t.node = null;
  if (node) { for (const o of node.owned) o.dispose(); }
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i];
      if (child.requiresGrad && !seen.has(child)) {
        if (child.disposed) {
          // Its gradient would land on a dead tensor and the leaves behind it would get none.
          throw new Error(
            `backward() from ${root}: ${child} on the path to the leaves was disposed ` +
              `(did a tidy() end between the forward pass and backward()?)`,
          );
        }
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order; // inputs before the tensors made from them
}

function backwardFrom(root: Tensor, seed?: Tensor): void {
  if (!root.requiresGrad) {
    throw new Error(`backward() on ${root}: it does not depend on any tensor that requires grad`);
  }
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>();
  const holds = new Map<Tensor, number>();
  const hold = (g: Tensor) => holds.set(g, (holds.get(g) ?? 0) + 1);
  const drop = (g: Tensor) => {
    const n = (holds.get(g) ?? 1) - 1;
    if (n > 0) holds.set(g, n);
    else {
      holds.delete(g);
      g.dispose();
    }
  };
  // Gradients are internal until they land on a leaf: keep them out of the caller's tidy.
  const scope = new Set<Tensor>();
  const leafGrads = new Set<Tensor>();
  const consumed: TapeNode[] = [];
  scopes.push(scope);
  try {
    noGrad(() => {
      const start = seed ?? onesLike(root);
      if (!sameShape(start.shape, root.shape)) {
        throw new Error(`backward seed ${shapeStr(start.shape)} != ${shapeStr(root.shape)}`);
      }
      grads.set(root, start);
      if (seed) hold(seed); // never dispose the caller's seed
      hold(start);
      for (let k = order.length - 1; k >= 0; k--) {
        const t = order[k];
        const g = grads.get(t);
        if (!g) continue;
        grads.delete(t);
        const node = t.node;
        if (!node) {
          // A leaf: accumulate into .grad, which the caller owns.
          if (t.grad) {
            const sum = addInto(t.grad, g);
            t.grad.dispose();
            t.grad = sum;
            drop(g);
          } else {
            t.grad = holds.get(g) === 1 ? g : copyOf(g);
            if (t.grad === g) holds.delete(g);
            else drop(g);
          }
          scope.delete(t.grad);
          leafGrads.add(t.grad);
          continue;
        }
        const inGrads = node.backward(g);
        node.inputs.forEach((inp, i) => {
          const gi = inGrads[i];
          if (!gi || !inp.requiresGrad) return;
          if (!sameShape(gi.shape, inp.shape)) {
            throw new Error(
              `op ${node.op}: gradient ${shapeStr(gi.shape)} for input ${i} of shape ` +
                `${shapeStr(inp.shape)}`,
            );
          }
          const prev = grads.get(inp);
          if (prev) {
            grads.set(inp, addInto(prev, gi));
            hold(grads.get(inp)!);
            drop(prev);
          } else {
            grads.set(inp, gi);
            hold(gi);
          }
        });
        drop(g);
        // The graph is consumed (no retain_graph): drop the node. What it owns goes when the pass
        // ends (see `adopt`).
        if (t !== root) {
          consumed.push(node);
          t.node = null;
        }
      }
    });
  } finally {
    scopes.pop();
    for (const t of scope) if (!leafGrads.has(t)) t.dispose();
    for (const node of consumed) for (const o of node.owned) o.dispose();
  }
  dropNode(root);
}

// The tape's own arithmetic, on the launches below this module (ops/prims.ts); not recorded.
function onesLike(t: Tensor): Tensor {
  return fillInto(Tensor.empty(t.shape), 1);
}

function addInto(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.empty(broadcastShapes("add", a.shape, b.shape));
  binaryInto("add", a, b, out);
  return out;
}

function copyOf(t: Tensor): Tensor {
  const out = Tensor.empty(t.shape, t.dtype);
  const s = stridesOf(t.shape);
  copyStrided(t, 0, s, out, 0, s, t.shape);
  return out;
}
