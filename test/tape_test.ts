// The tape: shared subexpressions, gradient accumulation, noGrad, tidy and frozen inputs.

import assert from "node:assert/strict";
import { add, exp, initGpu, matmul, memoryStats, mul, noGrad, sum, Tensor, tidy } from "../mod.ts";
import { checkOp } from "./gradcheck.ts";
import * as R from "./reference.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

Deno.test("a tensor used several times gets the sum of its paths' gradients", () =>
  checkOp({
    name: "x·x + exp(x)·x + x",
    inputs: [{ shape: [77] }],
    gpu: (x) => add(add(mul(x, x), mul(exp(x), x)), x),
    ref: (x) => R.map(x, (v) => v * v + Math.exp(v) * v + v),
  }));

Deno.test("backward twice accumulates into .grad, as PyTorch does", async () => {
  const x = Tensor.from([1, 2, 3], [3], { requiresGrad: true });
  for (let k = 0; k < 2; k++) tidy(() => sum(mul(x, x)).backward());
  assert.deepEqual([...await x.grad!.toArray()], [4, 8, 12]);
  x.grad!.dispose();
  x.dispose();
});

Deno.test("noGrad records nothing; frozen inputs get no gradient", async () => {
  const w = Tensor.from([1, 2, 3, 4], [2, 2]);
  const x = Tensor.from([1, 1, 1, 1], [2, 2], { requiresGrad: true });
  const y = noGrad(() => matmul(x, w));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.node, null);
  tidy(() => sum(matmul(x, w)).backward());
  assert.equal(w.grad, null, "a tensor that does not require grad gets none");
  assert.deepEqual([...await x.grad!.toArray()], [3, 7, 3, 7]);
  for (const t of [w, x, y, x.grad!]) t.dispose();
});

Deno.test("tidy frees everything made inside except what it returns", async () => {
  const x = Tensor.from([1, 2, 3], [3]);
  const before = memoryStats().liveBytes;
  let inner: Tensor | null = null;
  const out = tidy(() => {
    inner = exp(x);
    return { kept: add(inner, 1) };
  });
  assert.ok(inner!.disposed, "intermediate disposed");
  assert.ok(!out.kept.disposed, "returned tensor kept");
  assert.deepEqual([...await out.kept.toArray()].map((v) => +v.toFixed(4)), [
    +(Math.E + 1).toFixed(4),
    +(Math.E ** 2 + 1).toFixed(4),
    +(Math.E ** 3 + 1).toFixed(4),
  ]);
  out.kept.dispose();
  assert.equal(memoryStats().liveBytes, before);
  x.dispose();
});

Deno.test("backward frees the graph and every intermediate gradient", () => {
  const x = Tensor.from(new Float32Array(1000).fill(0.5), [1000], { requiresGrad: true });
  const before = memoryStats().liveBytes;
  tidy(() => sum(mul(exp(x), x)).backward());
  x.grad!.dispose();
  x.grad = null;
  assert.equal(memoryStats().liveBytes, before);
  x.dispose();
});
