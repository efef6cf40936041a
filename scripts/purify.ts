// Antidote's main entry point. CBPT (trigger inversion + class-wise prompt tuning) arrives with
// the CLIP and CBPT issues; until then, with no arguments, this runs an end-to-end demo of the
// engine it will run on: a small network trained on the GPU with progress on stderr.
//
// Usage: deno run -A scripts/purify.ts [--steps N] [--seed N]

import { parseArgs } from "node:util";
import {
  Adam,
  crossEntropy,
  gpuInfo,
  linear,
  readTensors,
  runWithGpu,
  tanh,
  Tensor,
  tidy,
} from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    steps: { type: "string", default: "300" },
    seed: { type: "string", default: "7" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});

if (values.help) {
  console.log(`usage: deno run -A scripts/purify.ts [--steps N] [--seed N]

Today: an engine demo (two-spirals classifier trained on the GPU).
Coming: --model DIR --train DIR|CSV --classes FILE ... runs CBPT on a CLIP checkpoint.`);
  Deno.exit(0);
}

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Two interleaved spirals: a task a linear model cannot solve. */
function spirals(n: number, rand: () => number) {
  const xs = new Float32Array(2 * n), ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 2, t = 0.25 + 3 * rand();
    const a = t * 2.2 + c * Math.PI;
    xs[2 * i] = t * Math.cos(a) / 3 + 0.03 * (rand() - 0.5);
    xs[2 * i + 1] = t * Math.sin(a) / 3 + 0.03 * (rand() - 0.5);
    ys.push(c);
  }
  return { xs, ys };
}

await runWithGpu(async () => {
  const info = await gpuInfo();
  const steps = Number(values.steps), seed = Number(values.seed);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer`);
  console.error(`antidote: engine demo on ${info.description}`);
  const rand = seeded(seed);
  const normal = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const init = (shape: number[], scale: number) =>
    Tensor.from(
      Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => normal() * scale),
      shape,
      { requiresGrad: true },
    );
  const H = 64, N = 512;
  const w1 = init([H, 2], 1.5), b1 = init([H], 0.1), w2 = init([H, H], 1 / 8);
  const b2 = init([H], 0.1), w3 = init([2, H], 1 / 8), b3 = init([2], 0);
  const params = [w1, b1, w2, b2, w3, b3];
  const opt = new Adam(params, { lr: 0.01 });
  const { xs, ys } = spirals(N, rand);
  const x = Tensor.from(xs, [N, 2]);
  const t0 = performance.now();
  let loss = NaN;
  for (let step = 1; step <= steps; step++) {
    const l = tidy(() => {
      const h = tanh(linear(tanh(linear(x, w1, b1)), w2, b2));
      const out = crossEntropy(linear(h, w3, b3), ys);
      out.backward();
      opt.step();
      opt.zeroGrad();
      return out;
    });
    if (step % 50 === 0 || step === steps) {
      loss = await l.item();
      if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${step}`);
      const el = (performance.now() - t0) / 1000;
      const eta = (el / step) * (steps - step);
      console.error(
        `step ${step}/${steps}  loss ${loss.toFixed(4)}  ${el.toFixed(1)} s  ETA ${
          eta.toFixed(1)
        } s`,
      );
    }
    l.dispose();
  }
  const [logits] = await readTensors([
    tidy(() => {
      const h = tanh(linear(tanh(linear(x, w1, b1)), w2, b2));
      return linear(h, w3, b3);
    }),
  ]);
  let correct = 0;
  for (let i = 0; i < N; i++) {
    correct += (logits[2 * i + 1] > logits[2 * i] ? 1 : 0) === ys[i] ? 1 : 0;
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({
      demo: "engine: two-spirals MLP, Adam",
      adapter: info.description,
      steps,
      final_loss: Number(loss.toFixed(5)),
      train_accuracy: correct / N,
      seconds: Number(seconds.toFixed(2)),
    }),
  );
  console.error(
    "CBPT itself (trigger inversion and class-wise prompt tuning on CLIP checkpoints) is coming: " +
      "see the README's roadmap.",
  );
});
