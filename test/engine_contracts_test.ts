// Contracts of the engine that used to be kept by hand: the tape frees what its nodes saved, no
// module of src/gpu or src/autograd sits in an import cycle, and each kernel's uniforms are
// declared once (the WGSL struct and the packing come from one table).

import { importSpecifiers, ROOT, sourceFiles } from "./imports.ts";
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";

import * as ops from "../mod.ts";
import { initGpu, memoryStats, noGrad, Tensor, tidy } from "../mod.ts";
import { type Kernel, rt } from "../src/gpu/runtime.ts";
import {
  type Fields,
  type UniformLayout,
  uniformLayout,
  type UniformValues,
  UniformWriter,
  writeUniforms,
} from "../src/gpu/uniforms.ts";
import { fill, UNARY } from "../src/gpu/shaders/elementwise.ts";
import { record } from "../src/autograd/tensor.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

// ---- the tape frees what it saved --------------------------------------------------------------

/** Deterministic values in [0.1, 1.1] (positive: fine for a variance or a divisor). */
function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => 0.6 + 0.5 * Math.sin(seed * 7.1 + i * 1.3));
}

interface SavedCase {
  name: string;
  /** Input shapes (every input requires grad unless listed in `frozen`). */
  shapes: number[][];
  frozen?: number[];
  op: (...xs: Tensor[]) => Tensor;
}

const savedCases: SavedCase[] = [
  {
    name: "layerNorm (stats)",
    shapes: [[4, 8], [8], [8]],
    op: (x, w, b) => ops.layerNorm(x, w, b),
  },
  { name: "l2Normalize (norms)", shapes: [[3, 6]], op: (x) => ops.l2Normalize(x) },
  {
    name: "linear (matmul output before the bias)",
    shapes: [[3, 8], [4, 8], [4]],
    op: (x, w, b) => ops.linear(x, w, b),
  },
  {
    name: "crossEntropy (log-sum-exp, labels, per-row losses)",
    shapes: [[3, 5]],
    op: (x) => ops.crossEntropy(x, [0, 4, 2]),
  },
  { name: "max over all axes (indices, flat view)", shapes: [[3, 4]], op: (x) => ops.max(x) },
  { name: "gatherRows (indices)", shapes: [[5, 4]], op: (t) => ops.gatherRows(t, [1, 3, 1]) },
  { name: "scalar / tensor (reciprocal)", shapes: [[5]], op: (x) => ops.div(2, x) },
  {
    name: "conv2d (NHWC intermediates)",
    shapes: [[1, 2, 5, 5], [3, 2, 3, 3]],
    op: (x, w) => ops.conv2d(x, w, { padding: 1 }),
  },
  {
    name: "conv2dBnNhwc, frozen (folded scale and shift)",
    shapes: [[1, 4, 4, 4], [4, 4, 3, 3], [4], [4], [4], [4]],
    frozen: [1, 2, 3, 4, 5],
    op: (x, w, bw, bb, bm, bv) =>
      ops.conv2dBnNhwc(x, w, {
        weight: bw,
        bias: bb,
        runningMean: bm,
        runningVar: bv,
      }, { padding: 1, relu: true }),
  },
  {
    name: "patchConv (patches, views, product)",
    shapes: [[1, 2, 4, 4], [3, 2, 2, 2]],
    op: (x, w) => ops.patchConv(x, w),
  },
];

function inputsOf(c: SavedCase): Tensor[] {
  return c.shapes.map((s, i) =>
    Tensor.from(values(s.reduce((p, d) => p * d, 1), i + 1), s, {
      requiresGrad: !c.frozen?.includes(i),
    })
  );
}

function assertLive(before: number, what: string): void {
  assert.equal(memoryStats().liveBytes, before, `${what}: bytes live differ from the baseline`);
}

for (const c of savedCases) {
  Deno.test(`${c.name}: what the op saved is freed without grad, after backward, on dispose`, () => {
    const xs = inputsOf(c);
    const before = memoryStats().liveBytes;

    noGrad(() => c.op(...xs)).dispose();
    assertLive(before, "noGrad");

    const y = c.op(...xs);
    assert.ok(y.node, "recorded");
    y.dispose(); // the node goes without a backward
    assertLive(before, "disposed before backward");

    const out = c.op(...xs);
    const sq = ops.mul(out, out);
    const loss = ops.sum(sq);
    loss.backward();
    assert.equal(out.node, null, "the graph is consumed");
    for (const t of [out, sq, loss]) t.dispose();
    for (const x of xs) {
      assert.equal(!!x.grad, x.requiresGrad, `${x} got a gradient iff it requires one`);
      x.grad?.dispose();
      x.grad = null;
    }
    assertLive(before, "after backward");
    for (const x of xs) x.dispose();
  });
}

Deno.test("record frees `saved` at once when nothing is recorded, else after backward", () => {
  const x = Tensor.from([1, 2, 3], [3], { requiresGrad: true });
  const frozen = Tensor.from([1, 2, 3], [3]);
  const backward = (g: Tensor) => [ops.copy(g)];

  const s1 = Tensor.from([0], [1]);
  const y1 = noGrad(() => record(ops.copy(x), "op", [x], backward, [s1]));
  assert.ok(s1.disposed, "noGrad: freed by record");
  const s2 = Tensor.from([0], [1]);
  const y2 = record(ops.copy(frozen), "op", [frozen], backward, [s2]);
  assert.ok(s2.disposed, "no input requires grad: freed by record");

  const s3 = Tensor.from([0], [1]);
  const y3 = tidy(() => record(ops.copy(x), "op", [x], backward, [s3]));
  assert.ok(!s3.disposed, "the node owns it, past the tidy that made it");
  const loss = ops.sum(y3);
  loss.backward();
  assert.ok(s3.disposed, "freed once the backward pass ran its node");

  const s4 = Tensor.from([0], [1]);
  const y4 = record(ops.copy(x), "op", [x], backward, [s4]);
  y4.dispose();
  assert.ok(s4.disposed, "freed when the node's tensor is disposed");
  for (const t of [x, frozen, y1, y2, y3, loss, x.grad!]) t.dispose();
});

Deno.test("a layer norm returned from a tidy still backpropagates (its stats live with the node)", async () => {
  const x = Tensor.from([1, 2, 4, 3, 0, -1], [2, 3], { requiresGrad: true });
  const w = Tensor.from([1, 1, 1], [3]), b = Tensor.from([0, 0, 0], [3]);
  const before = memoryStats().liveBytes;
  const y = tidy(() => ops.layerNorm(x, w, b));
  const sq = ops.mul(y, y);
  const loss = ops.sum(sq);
  loss.backward();
  const g = await x.grad!.toArray();
  assert.ok(g.every(Number.isFinite));
  for (const t of [y, sq, loss, x.grad!]) t.dispose();
  x.grad = null;
  assertLive(before, "after backward");
  for (const t of [x, w, b]) t.dispose();
});

// ---- no import cycle among src/gpu and src/autograd ---------------------------------------------

/** file → the files of `dirs` it imports (type-only imports count: they are edges too). */
function importGraph(dirs: string[]): Map<string, string[]> {
  const files = dirs.flatMap(sourceFiles);
  const inside = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = Deno.readTextFileSync(join(ROOT, file));
    const targets = importSpecifiers(text).map((s) =>
      relative(ROOT, resolve(dirname(join(ROOT, file)), s))
    );
    graph.set(file, targets.filter((t) => inside.has(t)));
  }
  return graph;
}

/** A cycle as [a, b, …, a], or null. */
function findCycle(graph: Map<string, readonly string[]>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (f: string): string[] | null => {
    if (state.get(f) === "done") return null;
    if (state.get(f) === "open") return [...path.slice(path.indexOf(f)), f];
    state.set(f, "open");
    path.push(f);
    for (const t of graph.get(f) ?? []) {
      const c = visit(t);
      if (c) return c;
    }
    path.pop();
    state.set(f, "done");
    return null;
  };
  for (const f of graph.keys()) {
    const c = visit(f);
    if (c) return c;
  }
  return null;
}

Deno.test("the import scanner reads multi-line, type-only, re-export and side-effect imports", () => {
  const text =
    `import { \n  a, \n  type b, \n } from "../x.ts";\nimport type { C } from "./c.ts";\n` +
    `export * from './y.ts';\nimport "./z.ts";\nimport { q } from "npm:sharp";`;
  assert.deepEqual(importSpecifiers(text).sort(), ["../x.ts", "./c.ts", "./y.ts", "./z.ts"]);
  const cyclic = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
  assert.deepEqual(findCycle(cyclic), ["a", "b", "c", "a"]);
  assert.equal(findCycle(new Map([["a", ["b"]], ["b", []]])), null);
});

Deno.test("src/gpu and src/autograd import each other without a cycle", () => {
  const graph = importGraph(["src/gpu", "src/autograd"]);
  assert.ok(graph.size >= 20, `only ${graph.size} files found`);
  assert.ok(
    graph.get("src/autograd/tensor.ts")!.length > 0,
    "the scanner sees tensor.ts's imports",
  );
  const cycle = findCycle(graph);
  assert.equal(cycle, null, `import cycle: ${cycle?.join(" → ")}`);
});

// ---- each kernel's uniforms are declared once ----------------------------------------------------

const SHADER_MODULES = [
  "common",
  "conv",
  "elementwise",
  "gather",
  "matmul",
  "optim",
  "reduce",
  "rows",
];
/** Arguments for the kernel generators that take some (every variant that changes the code). */
const SAMPLE_ARGS: Record<string, unknown[][]> = {
  unaryForward: Object.keys(UNARY).map((n) => [n]),
  unaryBackward: Object.keys(UNARY).map((n) => [n]),
  binary: [["add", false], ["add", true], ["add", false, true], ["mul", true, true]],
  stridedCopy: [[false], [true]],
  fill: [[false], [true]],
  softmaxForward: [[false], [true]],
  softmaxBackward: [[false], [true]],
  tiledMatmul: [
    [{ TM: 16, TN: 32, WG: 16 }],
    [{ TM: 26, TN: 24, WG: 16 }, true],
    [{ TM: 26, TN: 24, WG: 16 }, true, true],
  ],
  implicitConv: [[{ TM: 16, TN: 32, WG: 16 }]],
};
/** Exports of the shader modules that make no kernel. */
const NOT_KERNELS = new Set([
  "main1d",
  "storage",
  "at8",
  "stridesOf",
  "tiledGrid",
  "stridedGrid",
  "implicitConvGrid",
]);

async function allKernels(): Promise<Kernel[]> {
  const out: Kernel[] = [];
  for (const m of SHADER_MODULES) {
    const mod = await import(`../src/gpu/shaders/${m}.ts`);
    for (const [name, f] of Object.entries(mod)) {
      if (typeof f !== "function" || NOT_KERNELS.has(name)) continue;
      const argSets = SAMPLE_ARGS[name] ?? (f.length === 0 ? [[]] : null);
      if (!argSets) throw new Error(`${m}.ts: give ${name} sample arguments in SAMPLE_ARGS`);
      for (const args of argSets) {
        const k = f(...args) as Kernel;
        assert.ok(typeof k.code === "string" && k.uniforms, `${m}.${name} makes a kernel`);
        out.push(k);
      }
    }
  }
  return out;
}

/** Byte offset of each field under WGSL's uniform layout rules (independent of the writer). */
function wgslOffsets(fields: Fields): Map<string, number> {
  const offsets = new Map<string, number>();
  let at = 0;
  for (const [name, type] of Object.entries(fields)) {
    const [align, size] = type === "array<vec4u, 2>" ? [16, 32] : [4, 4];
    at = Math.ceil(at / align) * align;
    offsets.set(name, at);
    at += size;
  }
  return offsets;
}

/** Distinct values for every field: field k holds 100·(k+1) (arrays: 100·(k+1) + j). */
function sampleValues(fields: Fields): Record<string, number | number[]> {
  return Object.fromEntries(
    Object.entries(fields).map(([name, type], k) => [
      name,
      type === "array<vec4u, 2>"
        ? Array.from({ length: 8 }, (_, j) => 100 * (k + 1) + j)
        : 100 * (k + 1),
    ]),
  );
}

function writeTo(layout: UniformLayout, values: Record<string, unknown>): DataView {
  const buf = new ArrayBuffer(256);
  writeUniforms(new UniformWriter(buf, 0), layout, values as UniformValues<UniformLayout>);
  return new DataView(buf);
}

Deno.test("a layout generates its WGSL struct", () => {
  const l = uniformLayout({ n: "u32", eps: "f32", ph: "i32", shape: "array<vec4u, 2>" });
  assert.equal(
    l.wgsl,
    "struct U { n: u32, eps: f32, ph: i32, shape: array<vec4u, 2> };\n" +
      "@group(0) @binding(0) var<uniform> u: U;",
  );
  assert.throws(() => uniformLayout({ "0": "u32" }), /uniform field name "0"/);
  // The writer's types follow the table.
  const write = (v: UniformValues<typeof l>) => writeTo(l, v);
  const view = write({ n: 3, eps: 0.5, ph: -1, shape: [2, 3] });
  assert.deepEqual(
    [view.getUint32(0, true), view.getFloat32(4, true), view.getInt32(8, true)],
    [3, 0.5, -1],
  );
  assert.deepEqual([16, 20, 24].map((o) => view.getUint32(o, true)), [2, 3, 0]);
  // @ts-expect-error: a misspelt field is a type error as well as a runtime one
  assert.throws(() => write({ n: 3, eps: 0.5, ph: -1, shap: [2] }), /no field "shap"/);
});

Deno.test("every kernel declares the struct of its layout, and its writer packs by it", async () => {
  const kernels = await allKernels();
  assert.ok(kernels.length >= 40, `only ${kernels.length} kernels found`);
  for (const k of kernels) {
    const fields = Object.entries(k.uniforms.fields);
    // The struct the shader compiles is the layout's, once.
    assert.equal(k.code.split("struct U {").length, 2, `${k.name}: one struct U`);
    assert.ok(k.code.includes(k.uniforms.wgsl), `${k.name}: the code declares its layout`);
    const struct = k.code.match(/struct U \{ (.*) \};/)![1];
    assert.equal(struct, fields.map(([n, t]) => `${n}: ${t}`).join(", "), `${k.name}: fields`);

    // The writer puts each value where WGSL reads it.
    const values = sampleValues(k.uniforms.fields);
    const view = writeTo(k.uniforms, values);
    for (const [name, at] of wgslOffsets(k.uniforms.fields)) {
      const type = k.uniforms.fields[name];
      const v = values[name];
      const got = type === "array<vec4u, 2>"
        ? Array.from({ length: 8 }, (_, j) => view.getUint32(at + 4 * j, true))
        : type === "f32"
        ? view.getFloat32(at, true)
        : type === "i32"
        ? view.getInt32(at, true)
        : view.getUint32(at, true);
      assert.deepEqual(got, v, `${k.name}: field ${name} at byte ${at}`);
    }

    // A missing or unknown field throws.
    const [first] = fields[0];
    const { [first]: _, ...missing } = values;
    assert.throws(() => writeTo(k.uniforms, missing), new RegExp(`no value for "${first}"`));
    assert.throws(
      () => writeTo(k.uniforms, { ...values, [`${first}x`]: 1 }),
      new RegExp(`no field "${first}x"`),
    );
  }
});

Deno.test("the runtime refuses a wrong uniform name, and WGSL that is not the layout's", () => {
  const t = Tensor.from([1, 2, 3], [3]);
  const values = { n: 3, valeu: 1 } as unknown as UniformValues<UniformLayout>;
  assert.throws(
    () => rt().dispatch(fill(), [t.ref], [1], values),
    /kernel fill: uniforms: no field "valeu"/,
  );
  const k = fill();
  const edited = { ...k, name: "fill.edited", code: k.code.replace("value: u32", "value: f32") };
  assert.throws(
    () => rt().dispatch(edited, [t.ref], [1], { n: 3, value: 0 }),
    /kernel fill.edited: its WGSL does not declare its uniform layout/,
  );
  t.dispose();
});
