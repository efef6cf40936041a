// End-to-end training checks: an MLP and a one-block transformer learn toy tasks, the NaN
// debug mode names the op that first produced a non-finite value, memory stays flat across a
// long tidy() training loop, and the optimisers match plain-TS versions of PyTorch's formulas.
//
// The GPU here may be a software adapter where every readback costs ~11 ms, so the loops read
// the loss back only every few dozen steps and the models are tiny.

import assert from "node:assert/strict";
import {
  Adam,
  AdamW,
  add,
  cosineSchedule,
  crossEntropy,
  div,
  exp,
  gatherRows,
  initGpu,
  layerNorm,
  linear,
  linfBall,
  log,
  matmul,
  memoryStats,
  mul,
  NonFiniteError,
  permute,
  quickGelu,
  relu,
  reshape,
  setNanCheck,
  SGD,
  softmax,
  sqrt,
  sum,
  sync,
  tanh,
  Tensor,
  tidy,
} from "../mod.ts";
import { assertAllClose, randn, type Rng, rng } from "./helpers.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

// ---- shared pieces ----------------------------------------------------------------------------

/** A leaf parameter drawn from N(0, scale²) with a seeded RNG. */
function param(r: Rng, shape: number[], scale: number): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return Tensor.from(randn(r, n, scale), shape, { requiresGrad: true });
}

function zerosParam(shape: number[]): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return Tensor.from(new Float32Array(n), shape, { requiresGrad: true });
}

function onesParam(shape: number[]): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return Tensor.from(new Float32Array(n).fill(1), shape, { requiresGrad: true });
}

function disposeAll(ts: readonly Tensor[]): void {
  for (const t of ts) {
    t.grad?.dispose();
    t.grad = null;
    t.dispose();
  }
}

/** Two interleaved spirals of 1.4 turns each (radius up to 2), `n` points, small noise. */
function spirals(r: Rng, n: number, noise: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(n * 2), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 2, t = 0.25 + 2.75 * r.uniform();
    const angle = Math.PI * (t + c), radius = (2 * t) / 3;
    x[2 * i] = radius * Math.cos(angle) + noise * r.normal();
    x[2 * i + 1] = radius * Math.sin(angle) + noise * r.normal();
    y[i] = c;
  }
  return { x, y };
}

/** Fraction of rows whose argmax matches the label. */
function accuracy(logits: Float32Array, labels: ArrayLike<number>, classes: number): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) {
      if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    }
    if (best === labels[i]) right++;
  }
  return right / labels.length;
}

// ---- 1. MLPs on toy 2-D classification tasks ----------------------------------------------------

Deno.test("train: a 2-32-2 tanh MLP learns two spirals with Adam", async () => {
  const N = 192, STEPS = 300, H = 32;
  const data = spirals(rng(1), N, 0.03);
  const x = Tensor.from(data.x, [N, 2]);
  const labels = Tensor.from(data.y, [N], { dtype: "i32" });
  // Wide first-layer init (N(0, 1.5²) weights, N(0, 0.5²) biases) so the tanh units tile the
  // plane; the head is N(0, 1/H).
  const r = rng(2);
  const w1 = param(r, [H, 2], 1.5), b1 = param(r, [H], 0.5);
  const w2 = param(r, [2, H], 1 / Math.sqrt(H)), b2 = zerosParam([2]);
  const mlp = {
    params: [w1, b1, w2, b2],
    forward: (x: Tensor) => linear(tanh(linear(x, w1, b1)), w2, b2),
  };
  const opt = new Adam(mlp.params, { lr: 0.03 });
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const loss = tidy(() => {
      const l = crossEntropy(mlp.forward(x), labels);
      l.backward();
      opt.step();
      opt.zeroGrad();
      return l;
    });
    if (step === 0 || (step + 1) % 50 === 0) losses.push(await loss.item());
    loss.dispose();
  }
  const logits = tidy(() => mlp.forward(x));
  const acc = accuracy(await logits.toArray(), data.y, 2);
  logits.dispose();
  console.log(`  spiral losses every 50 steps: ${losses.map((l) => l.toFixed(4)).join(" ")}`);
  console.log(`  spiral training accuracy ${acc}`);
  // Bounds: the initial loss is near ln 2 ≈ 0.69 (0.5 .. 1.0); after 300 Adam steps the loss
  // is below 0.05 (measured ~0.007) and at most 1% of training points are misclassified.
  assert.ok(losses[0] > 0.5 && losses[0] < 1.0, `initial loss ${losses[0]} not near ln 2`);
  assert.ok(losses.at(-1)! < 0.05, `final loss ${losses.at(-1)} not below 0.05`);
  assert.ok(acc >= 0.99, `training accuracy ${acc} below 0.99`);
  opt.dispose();
  disposeAll([...mlp.params, x, labels]);
});

/** Four Gaussian blobs at (±1, ±1), labelled by XOR of the coordinate signs. */
function xorBlobs(r: Rng, n: number, spread: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(n * 2), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const sx = i & 1 ? 1 : -1, sy = i & 2 ? 1 : -1;
    x[2 * i] = sx + spread * r.normal();
    x[2 * i + 1] = sy + spread * r.normal();
    y[i] = sx === sy ? 0 : 1;
  }
  return { x, y };
}

Deno.test("train: a 2-16-2 relu MLP learns XOR blobs with SGD + momentum", async () => {
  const N = 128, STEPS = 200, H = 16;
  const data = xorBlobs(rng(3), N, 0.25);
  const x = Tensor.from(data.x, [N, 2]);
  const labels = Tensor.from(data.y, [N], { dtype: "i32" });
  const r = rng(4);
  const w1 = param(r, [H, 2], 1 / Math.sqrt(2)), b1 = zerosParam([H]);
  const w2 = param(r, [2, H], 1 / Math.sqrt(H)), b2 = zerosParam([2]);
  const params = [w1, b1, w2, b2];
  const forward = (x: Tensor) => linear(relu(linear(x, w1, b1)), w2, b2);
  const opt = new SGD(params, { lr: 0.1, momentum: 0.9 });
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const loss = tidy(() => {
      const l = crossEntropy(forward(x), labels);
      l.backward();
      opt.step();
      opt.zeroGrad();
      return l;
    });
    if (step === 0 || (step + 1) % 50 === 0) losses.push(await loss.item());
    loss.dispose();
  }
  const logits = tidy(() => forward(x));
  const acc = accuracy(await logits.toArray(), data.y, 2);
  logits.dispose();
  console.log(`  XOR losses every 50 steps: ${losses.map((l) => l.toFixed(4)).join(" ")}`);
  console.log(`  XOR training accuracy ${acc}`);
  // Bounds: initial loss 0.5 .. 1.0 (chance is ln 2); after 200 steps loss < 0.05, acc >= 0.99.
  assert.ok(losses[0] > 0.5 && losses[0] < 1.0, `initial loss ${losses[0]} not near ln 2`);
  assert.ok(losses.at(-1)! < 0.05, `final loss ${losses.at(-1)} not below 0.05`);
  assert.ok(acc >= 0.99, `training accuracy ${acc} below 0.99`);
  opt.dispose();
  disposeAll([...params, x, labels]);
});

// ---- 2. a one-block transformer on a copy task --------------------------------------------------

interface BlockConfig {
  vocab: number;
  seq: number;
  dim: number;
  heads: number;
}

/** Token + position embeddings, one pre-LN block (causal MHA, quickGelu MLP), final LN, head. */
function makeTransformer(seed: number, c: BlockConfig) {
  const r = rng(seed);
  const D = c.dim, s = 1 / Math.sqrt(D);
  const p = {
    tok: param(r, [c.vocab, D], 0.5),
    pos: param(r, [c.seq, D], 0.5),
    ln1w: onesParam([D]),
    ln1b: zerosParam([D]),
    wq: param(r, [D, D], s),
    wk: param(r, [D, D], s),
    wv: param(r, [D, D], s),
    wo: param(r, [D, D], s),
    bo: zerosParam([D]),
    ln2w: onesParam([D]),
    ln2b: zerosParam([D]),
    w1: param(r, [4 * D, D], s),
    b1: zerosParam([4 * D]),
    w2: param(r, [D, 4 * D], 1 / Math.sqrt(4 * D)),
    b2: zerosParam([D]),
    lnfw: onesParam([D]),
    lnfb: zerosParam([D]),
    head: param(r, [c.vocab, D], s),
  };
  const hd = D / c.heads;
  // [B, T, D] -> [B, H, T, hd]
  const split = (t: Tensor, B: number) =>
    permute(reshape(t, [B, c.seq, c.heads, hd]), [0, 2, 1, 3]);
  /** ids: i32 [B, T]; returns logits [B·T, vocab]. */
  const forward = (ids: Tensor): Tensor => {
    const B = ids.shape[0];
    let x = add(gatherRows(p.tok, ids), p.pos); // [B, T, D]
    const h = layerNorm(x, p.ln1w, p.ln1b);
    const q = split(linear(h, p.wq), B), k = split(linear(h, p.wk), B);
    const v = split(linear(h, p.wv), B);
    const scores = mul(matmul(q, k, { transB: true }), 1 / Math.sqrt(hd)); // [B, H, T, T]
    const att = matmul(softmax(scores, { causal: true }), v); // [B, H, T, hd]
    const merged = reshape(permute(att, [0, 2, 1, 3]), [B, c.seq, D]);
    x = add(x, linear(merged, p.wo, p.bo));
    const h2 = layerNorm(x, p.ln2w, p.ln2b);
    x = add(x, linear(quickGelu(linear(h2, p.w1, p.b1)), p.w2, p.b2));
    const logits = linear(layerNorm(x, p.lnfw, p.lnfb), p.head);
    return reshape(logits, [B * c.seq, c.vocab]);
  };
  return { params: Object.values(p), forward };
}

Deno.test("train: a one-block causal transformer learns to copy with AdamW + cosine", async () => {
  // Each sequence is 4 random tokens followed by the same 4 again; the model predicts the next
  // token at positions 0..6. At positions 3..6 it is the token 3 places back, which the model
  // can only get by attending; at 0..2 it is a fresh random token, so a causal model cannot beat
  // ln 8 there, while one that saw the future (a broken mask) could.
  const cfg: BlockConfig = { vocab: 8, seq: 8, dim: 16, heads: 2 };
  const B = 32, T = cfg.seq, HALF = T / 2, STEPS = 300;
  const model = makeTransformer(5, cfg);
  const schedule = cosineSchedule({ baseLr: 0.01, totalSteps: STEPS, warmupSteps: 20 });
  const opt = new AdamW(model.params, { lr: schedule(0), weightDecay: 0.01 });
  // Loss weight of row b·T + t: 1/(B·(T-1)) for t < T-1 (the last position has no target).
  const wts = new Float32Array(B * T);
  for (let i = 0; i < B * T; i++) wts[i] = i % T < T - 1 ? 1 / (B * (T - 1)) : 0;
  const weights = Tensor.from(wts, [B * T]);
  const r = rng(6);
  const batch = () => {
    const ids = new Int32Array(B * T), next = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < HALF; t++) ids[b * T + t] = ids[b * T + t + HALF] = r.int(cfg.vocab);
      for (let t = 0; t + 1 < T; t++) next[b * T + t] = ids[b * T + t + 1];
    }
    return { ids: Tensor.from(ids, [B, T], { dtype: "i32" }), next };
  };
  const losses: number[] = [];
  const t0 = performance.now();
  for (let step = 0; step < STEPS; step++) {
    opt.lr = schedule(step);
    const loss = tidy(() => {
      const { ids, next } = batch(); // a fresh batch every step
      const perRow = crossEntropy(model.forward(ids), next, "none");
      const l = sum(mul(perRow, weights));
      l.backward();
      opt.step();
      opt.zeroGrad();
      return l;
    });
    if (step === 0 || (step + 1) % 50 === 0) losses.push(await loss.item());
    loss.dispose();
  }
  const ms = performance.now() - t0;
  // Per-position loss on a fresh batch.
  const perRow = tidy(() => {
    const { ids, next } = batch();
    return crossEntropy(model.forward(ids), next, "none");
  });
  const rows = await perRow.toArray();
  perRow.dispose();
  let copied = 0, fresh = 0;
  for (let i = 0; i < B * T; i++) {
    const t = i % T;
    if (t >= HALF - 1 && t < T - 1) copied += rows[i] / (B * HALF);
    else if (t < HALF - 1) fresh += rows[i] / (B * (HALF - 1));
  }
  console.log(`  copy-task losses every 50 steps: ${losses.map((l) => l.toFixed(4)).join(" ")}`);
  console.log(`  held-out loss: copied positions ${copied.toFixed(4)}, fresh ${fresh.toFixed(4)}`);
  console.log(`  ${STEPS} steps in ${ms.toFixed(0)} ms`);
  // Bounds: the initial loss is near ln 8 ≈ 2.08 (1.5 .. 3). The training loss cannot go below
  // (3/7)·ln 8 ≈ 0.89 for a causal model; after 300 steps it is below 0.89 + 0.1. On a fresh
  // batch, the copied positions score < 0.1 and the unpredictable ones > 1.7 (expected >= 2.08).
  assert.ok(losses[0] > 1.5 && losses[0] < 3, `initial loss ${losses[0]} not near ln 8`);
  assert.ok(losses.at(-1)! < 0.99, `final training loss ${losses.at(-1)} not below 0.99`);
  assert.ok(copied < 0.1, `held-out loss on copied positions ${copied} not below 0.1`);
  assert.ok(fresh > 1.7, `loss on unpredictable positions ${fresh}: the model sees the future?`);
  opt.dispose();
  disposeAll([...model.params, weights]);
});

// ---- 3. NaN / Inf detection ---------------------------------------------------------------------

/** Runs fn with the NaN check on, and always turns it off again. */
async function withNanCheck(fn: () => Promise<void>): Promise<void> {
  setNanCheck(true);
  try {
    await fn();
  } finally {
    setNanCheck(false);
  }
}

Deno.test("nancheck: log of a negative is reported at the next read, naming log", async () => {
  await withNanCheck(async () => {
    const x = Tensor.from([0.5, -1, 2, 3], [4]);
    // Ops before (exp, finite) and after (mul, sum: NaN propagates) the first bad one.
    const loss = tidy(() => sum(mul(log(add(exp(x), -1.5)), 2)));
    await assert.rejects(loss.item(), (e: unknown) => {
      assert.ok(e instanceof NonFiniteError, `expected NonFiniteError, got ${e}`);
      assert.match(e.message, /\bop log\b/);
      assert.equal(e.kernel, "log.forward");
      return true;
    });
    // The flags are cleared by that read: finite work reads back normally afterwards.
    const ok = tidy(() => sum(mul(x, 2)));
    assert.equal(await ok.item(), 9);
    disposeAll([x, loss, ok]);
  });
});

Deno.test("nancheck: division by zero is reported naming div", async () => {
  await withNanCheck(async () => {
    const a = Tensor.from([1, 2, 3], [3]), b = Tensor.from([1, 0, 2], [3]);
    const y = tidy(() => tanh(mul(div(a, b), 0)));
    await assert.rejects(y.toArray(), (e: unknown) => {
      assert.ok(e instanceof NonFiniteError, `expected NonFiniteError, got ${e}`);
      assert.match(e.message, /\bop div\b/);
      return true;
    });
    disposeAll([a, b, y]);
  });
});

Deno.test("nancheck: an Inf gradient (sqrt at 0) is reported, naming the backward", async () => {
  await withNanCheck(async () => {
    const x = Tensor.from([0, 4, 9], [3], { requiresGrad: true });
    tidy(() => sum(sqrt(x)).backward());
    // The forward is finite (sqrt(0) = 0); d sqrt/dx at 0 is 0.5/0 = Inf.
    await assert.rejects(x.grad!.toArray(), (e: unknown) => {
      assert.ok(e instanceof NonFiniteError, `expected NonFiniteError, got ${e}`);
      assert.match(e.message, /\bop sqrt\b/);
      assert.match(e.message, /sqrt\.backward/);
      assert.equal(e.kernel, "sqrt.backward");
      return true;
    });
    disposeAll([x]);
  });
});

Deno.test("nancheck: off by default, a NaN loss still reads back as NaN", async () => {
  // The check was turned off by the tests above (finally blocks); nothing throws here.
  const x = Tensor.from([-1, 2], [2]);
  const loss = tidy(() => sum(log(x)));
  const v = await loss.item();
  assert.ok(Number.isNaN(v), `log(-1) + log(2) read back as ${v}, expected NaN`);
  disposeAll([x, loss]);
});

// ---- 4. memory across a long tidy() training loop -----------------------------------------------

Deno.test("memory: 1000 tidy() training steps keep live and allocated bytes flat", async () => {
  const N = 64, H = 16, STEPS = 1000;
  const data = xorBlobs(rng(7), N, 0.25);
  const x = Tensor.from(data.x, [N, 2]);
  const labels = Tensor.from(data.y, [N], { dtype: "i32" });
  const r = rng(8);
  const w1 = param(r, [H, 2], 1 / Math.sqrt(2)), b1 = zerosParam([H]);
  const w2 = param(r, [2, H], 1 / Math.sqrt(H)), b2 = zerosParam([2]);
  const params = [w1, b1, w2, b2];
  const opt = new Adam(params, { lr: 0.01 });
  const snapshots = new Map<number, { live: number; allocated: number }>();
  const losses: number[] = [];
  for (let step = 1; step <= STEPS; step++) {
    const loss = tidy(() => {
      const l = crossEntropy(linear(tanh(linear(x, w1, b1)), w2, b2), labels);
      l.backward();
      opt.step();
      opt.zeroGrad();
      return l;
    });
    if (step === 10 || step % 100 === 0) {
      losses.push(await loss.item());
      loss.dispose();
      await sync();
      const s = memoryStats();
      snapshots.set(step, { live: s.liveBytes, allocated: s.allocatedBytes });
    } else {
      loss.dispose();
    }
  }
  const at10 = snapshots.get(10)!, at1000 = snapshots.get(STEPS)!;
  console.log(`  losses at 10, 100, ..., 1000: ${losses.map((l) => l.toFixed(4)).join(" ")}`);
  console.log(`  step 10: ${JSON.stringify(at10)}; step 1000: ${JSON.stringify(at1000)}`);
  // Bound: exact equality, byte for byte, after step 10 and after step 1000 (and at every
  // hundredth step in between); the loss still falls (last < first) so the steps did work.
  for (const [step, s] of snapshots) {
    assert.deepEqual(s, at10, `memory after step ${step} differs from after step 10`);
  }
  assert.ok(losses.at(-1)! < losses[0], `loss did not fall: ${losses[0]} -> ${losses.at(-1)}`);
  opt.dispose();
  disposeAll([...params, x, labels]);
});

Deno.test("tape: backward() through a tensor that a tidy() already freed throws", () => {
  const w = Tensor.from([1, 2], [2], { requiresGrad: true });
  // tidy frees tanh(w) (not returned); y's graph still points at it.
  const y = tidy(() => sum(tanh(w)));
  assert.throws(() => y.backward(), /was disposed.*tidy/);
  assert.equal(w.grad, null);
  disposeAll([w, y]);
});

// ---- 5. optimisers against the PyTorch formulas -------------------------------------------------

// Each step uses the gradient of L(p) = ½ Σ c·p², i.e. g = c ⊙ p, computed by the tape on the GPU
// and on the CPU from the CPU's own parameter copy (float64).

function quadraticStep(p: Tensor, c: Tensor, opt: { step(): void; zeroGrad(): void }): void {
  tidy(() => {
    mul(sum(mul(mul(p, p), c)), 0.5).backward();
    opt.step();
    opt.zeroGrad();
  });
}

const P0 = Float64Array.from(randn(rng(9), 12, 1));
const C = Float64Array.from(randn(rng(10), 12, 1));

function optimiserCase<O extends SGD | Adam>(make: (p: Tensor) => O) {
  const p = Tensor.from(Float32Array.from(P0), [3, 4], { requiresGrad: true });
  const c = Tensor.from(Float32Array.from(C), [3, 4]);
  const opt = make(p);
  return { p, c, opt };
}

Deno.test("optim: two SGD steps with momentum and weight decay match torch.optim.SGD", async () => {
  const lr = 0.1, momentum = 0.9, wd = 0.05;
  const { p, c, opt } = optimiserCase((p) => new SGD([p], { lr, momentum, weightDecay: wd }));
  const ref = Float64Array.from(P0), buf = new Float64Array(12);
  for (let t = 1; t <= 2; t++) {
    quadraticStep(p, c, opt);
    for (let i = 0; i < 12; i++) {
      const d = C[i] * ref[i] + wd * ref[i];
      buf[i] = t === 1 ? d : momentum * buf[i] + d; // dampening 0, nesterov off
      ref[i] -= lr * buf[i];
    }
  }
  // Tolerance: float32 arithmetic on O(1) values, atol 1e-6 + rtol 1e-5.
  assertAllClose(await p.toArray(), ref, { atol: 1e-6, rtol: 1e-5, name: "SGD params" });
  disposeAll([p, c]);
  opt.dispose();
});

function adamReference(
  steps: number,
  lrs: number[],
  b1: number,
  b2: number,
  eps: number,
  wd: number,
  decoupled: boolean,
): Float64Array {
  const p = Float64Array.from(P0), m = new Float64Array(12), v = new Float64Array(12);
  for (let t = 1; t <= steps; t++) {
    const lr = lrs[t - 1];
    for (let i = 0; i < 12; i++) {
      let g = C[i] * p[i];
      if (decoupled) p[i] *= 1 - lr * wd;
      else g += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const bc1 = 1 - b1 ** t, bc2 = 1 - b2 ** t;
      // torch: p -= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)
      p[i] -= (lr / bc1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
    }
  }
  return p;
}

Deno.test("optim: Adam with L2 weight decay matches torch.optim.Adam over two steps", async () => {
  const lr = 0.05, wd = 0.1;
  const { p, c, opt } = optimiserCase((p) =>
    new Adam([p], { lr, betas: [0.8, 0.99], eps: 1e-6, weightDecay: wd })
  );
  quadraticStep(p, c, opt);
  // One step: each element moves by lr·sign(g) (up to eps); check that first.
  const one = adamReference(1, [lr], 0.8, 0.99, 1e-6, wd, false);
  // Tolerance: atol 1e-6 + rtol 1e-5 (float32 state, O(1) values).
  assertAllClose(await p.toArray(), one, { atol: 1e-6, rtol: 1e-5, name: "Adam params, step 1" });
  quadraticStep(p, c, opt);
  const two = adamReference(2, [lr, lr], 0.8, 0.99, 1e-6, wd, false);
  assertAllClose(await p.toArray(), two, { atol: 1e-6, rtol: 1e-5, name: "Adam params, step 2" });
  disposeAll([p, c]);
  opt.dispose();
});

Deno.test("optim: AdamW with a scheduled lr matches torch.optim.AdamW (3 steps)", async () => {
  const wd = 0.2;
  const sched = cosineSchedule({ baseLr: 0.05, totalSteps: 3, warmupSteps: 1 });
  const lrs = [0, 1, 2].map(sched); // 0.05, 0.05, 0.025
  const { p, c, opt } = optimiserCase((p) => new AdamW([p], { lr: lrs[0], weightDecay: wd }));
  for (let t = 0; t < 3; t++) {
    opt.lr = lrs[t];
    quadraticStep(p, c, opt);
  }
  const ref = adamReference(3, lrs, 0.9, 0.999, 1e-8, wd, true);
  // Tolerance: atol 1e-6 + rtol 1e-5.
  assertAllClose(await p.toArray(), ref, { atol: 1e-6, rtol: 1e-5, name: "AdamW params" });
  // AdamW's default weight decay is 0.01 (torch's default).
  const q = Tensor.from([1], [1], { requiresGrad: true });
  const dflt = new AdamW([q], { lr: 0.1 });
  q.grad = Tensor.from([0], [1]);
  dflt.step();
  // g = 0: m = v = 0, so the only change is the decay p·(1 - lr·wd) = 1 - 0.1·0.01.
  assertAllClose(await q.toArray(), [1 - 0.1 * 0.01], { atol: 1e-7, rtol: 0, name: "AdamW wd" });
  dflt.zeroGrad();
  dflt.dispose();
  disposeAll([p, c, q]);
  opt.dispose();
});

Deno.test("optim: cosineSchedule warms up linearly, then decays to minLr", () => {
  const s = cosineSchedule({ baseLr: 1, totalSteps: 110, warmupSteps: 10, minLr: 0.1 });
  // Exact formula values (tolerance 1e-12): warm-up (step+1)/10; then
  // 0.1 + 0.45·(1 + cos(π·(step-10)/100)); held at minLr past totalSteps.
  const cases: [number, number][] = [
    [0, 0.1],
    [4, 0.5],
    [9, 1],
    [10, 1],
    [35, 0.1 + 0.45 * (1 + Math.cos(Math.PI / 4))],
    [60, 0.55],
    [110, 0.1],
    [500, 0.1],
  ];
  for (const [step, want] of cases) {
    assert.ok(Math.abs(s(step) - want) < 1e-12, `step ${step}: ${s(step)} != ${want}`);
  }
  // Without warm-up or minLr: starts at baseLr, ends at 0.
  const plain = cosineSchedule({ baseLr: 0.3, totalSteps: 50 });
  assert.equal(plain(0), 0.3);
  assert.ok(Math.abs(plain(25) - 0.15) < 1e-12);
  assert.ok(Math.abs(plain(50)) < 1e-12);
});

Deno.test("optim: linfBall(eps) projection keeps params within [-eps, eps]", async () => {
  const eps = 0.1, lr = 0.5;
  const { p, c, opt } = optimiserCase((p) => new SGD([p], { lr, project: linfBall(eps) }));
  // eps is an f32 on the GPU: the bound is fround(0.1) = 0.100000001...
  const e32 = Math.fround(eps);
  const ref = Float64Array.from(P0);
  for (let t = 0; t < 3; t++) {
    quadraticStep(p, c, opt);
    for (let i = 0; i < 12; i++) {
      ref[i] = Math.min(e32, Math.max(-e32, ref[i] - lr * C[i] * ref[i]));
    }
    const got = await p.toArray();
    const worst = Math.max(...got.map(Math.abs));
    // Bound: every |p| <= fround(eps), exactly (clamp is exact).
    assert.ok(worst <= e32, `step ${t + 1}: max |p| = ${worst} > eps ${e32}`);
    // And the values match plain-TS SGD + clamp (atol 1e-6 + rtol 1e-5).
    assertAllClose(got, ref, { atol: 1e-6, rtol: 1e-5, name: `projected params, step ${t + 1}` });
  }
  // Both faces of the box are reached (the data has large positive and negative entries).
  const final = await p.toArray();
  assert.ok(final.some((v) => v === e32) && final.some((v) => v === -e32), `${final}`);
  disposeAll([p, c]);
  opt.dispose();
});
