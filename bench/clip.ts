// CLIP throughput on the engine: images/s and prompts/s, forward and forward+backward (to the
// pixels, and to CoOp prompt context vectors), on a random checkpoint of a real architecture
// made by scripts/make-random-clip.ts. Also the pool's high-water mark and the largest binding.
//
// Usage: deno run -A bench/clip.ts [--arch ViT-B/32|RN50|...] [--images 4] [--prompts 10] [--json]
//        [--model DIR] [--seconds 2] [--dtype f16|f32] [--half on|off] [--profile [--top 12]]
// --profile: after timing a case, its dispatches of one call are captured and replayed grouped by
// kernel name (src/gpu/replay.ts), so each kernel's share of the call shows (stderr).
// The random checkpoint holds f16 values by default, as OpenAI's released weights do, so frozen
// linear weights run on the f16-pair kernel (same results); `--half off` keeps them on f32 loads
// and `--dtype f32` makes weights that f16 cannot hold (the path of f32-trained checkpoints).

import { parseFlags } from "../src/cli/common.ts";
import {
  CLIP_ARCHS,
  type ClipArchName,
  loadClip,
  memoryStats,
  noGrad,
  runWithGpu,
  sum,
  sync,
  Tensor,
  tidy,
} from "../mod.ts";
import { randomCheckpoint } from "./random_checkpoint.ts";
import { type CapturedDispatch, rt } from "../src/gpu/runtime.ts";
import { replayByKernel } from "../src/gpu/replay.ts";

const { values } = parseFlags({
  args: Deno.args,
  options: {
    arch: { type: "string", default: "ViT-B/32" },
    images: { type: "string", default: "4" },
    prompts: { type: "string", default: "10" },
    ctx: { type: "string", default: "16" },
    seconds: { type: "string", default: "2" },
    model: { type: "string" },
    json: { type: "boolean" },
    only: { type: "string" },
    dtype: { type: "string", default: "f16" },
    half: { type: "string", default: "on" },
    profile: { type: "boolean" },
    top: { type: "string", default: "12" },
  },
});

const arch = values.arch as ClipArchName;
if (!(arch in CLIP_ARCHS)) throw new Error(`--arch must be one of ${Object.keys(CLIP_ARCHS)}`);
const B = Number(values.images), P = Number(values.prompts);
const target = Number(values.seconds);
const MiB = 1 << 20;

async function modelDir(): Promise<string> {
  if (values.model) return values.model;
  const dtype = values.dtype;
  if (dtype !== "f16" && dtype !== "f32") throw new Error(`--dtype must be f16 or f32`);
  return await randomCheckpoint(arch, dtype);
}

/** Runs `step` once to compile, then enough times to fill `target` seconds, syncing once. */
async function rate(step: () => void): Promise<{ perCall: number; calls: number }> {
  step();
  await sync();
  let calls = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) step();
    await sync();
    const s = (performance.now() - t0) / 1000;
    if (s >= target || calls >= 64) return { perCall: s / calls, calls };
    calls = Math.min(64, Math.max(calls + 1, Math.ceil((calls * target) / Math.max(s, 1e-3))));
  }
}

await runWithGpu(async () => {
  const dir = await modelDir();
  const t0 = performance.now();
  if (values.half !== "on" && values.half !== "off") throw new Error("--half must be on or off");
  const clip = await loadClip(dir, { halfWeights: values.half === "on" });
  const loadS = (performance.now() - t0) / 1000;
  const c = clip.config;
  const info = rt().gpu.summary;
  if (!values.json) {
    console.log(
      `# ${values.model ?? arch} on ${info.description}; loaded in ${loadS.toFixed(1)} s; ` +
        `${clip.halfWeights} linear weights on the f16-pair kernel`,
    );
    console.log(
      "what                       batch   per_s    s/call   peak MiB  largest binding MiB",
    );
  }
  const R = c.imageResolution, T = c.contextLength, Wt = c.transformerWidth;
  const M = Math.min(Number(values.ctx), T - 8); // leave room for SOT, class tokens, EOT
  const px = new Float32Array(B * 3 * R * R).map((_, i) => Math.sin(i * 0.37));
  const pixels = Tensor.from(px, [B, 3, R, R]);
  const pixelsG = Tensor.from(px, [B, 3, R, R], { requiresGrad: true });
  // Prompts: SOT, M context slots, 5 "class" tokens, EOT, padding (like CBPT's prompts).
  const sot = c.vocabSize - 2, eot = c.vocabSize - 1;
  const ids = new Int32Array(P * T);
  for (let p = 0; p < P; p++) {
    const row = [sot, ...Array(M).fill(343), ...[1, 2, 3, 4, 5].map((k) => 400 + 7 * p + k), eot];
    ids.set(row.slice(0, T), p * T);
  }
  const tokens = { ids, shape: [P, T] };
  const ctx = Tensor.from(
    new Float32Array(P * M * Wt).map(() => 0.02 * Math.random()),
    [P, M, Wt],
    {
      requiresGrad: true,
    },
  );
  const cases: [string, number, () => void][] = [
    ["image_forward", B, () => noGrad(() => tidy(() => void clip.encodeImage(pixels)))],
    ["image_forward_backward_pixels", B, () =>
      tidy(() => {
        sum(clip.encodeImage(pixelsG)).backward();
        pixelsG.grad?.dispose();
        pixelsG.grad = null;
      })],
    ["text_forward", P, () => noGrad(() => tidy(() => void clip.encodeText(tokens)))],
    ["text_forward_backward_ctx", P, () =>
      tidy(() => {
        sum(clip.encodeTextFromEmbeddings(clip.promptEmbeddings(ctx, tokens), tokens)).backward();
        ctx.grad?.dispose();
        ctx.grad = null;
      })],
  ];
  for (const [what, batch, step] of cases) {
    if (values.only && !what.includes(values.only)) continue;
    rt().pool.resetPeak();
    rt().largestBinding = 0;
    const { perCall } = await rate(step);
    const row = {
      arch: values.model ? null : arch,
      model: values.model ?? null,
      what,
      batch,
      per_s: Number((batch / perCall).toFixed(3)),
      seconds_per_call: Number(perCall.toFixed(4)),
      peak_live_mib: Number((memoryStats().peakLiveBytes / MiB).toFixed(1)),
      largest_binding_mib: Number((rt().largestBinding / MiB).toFixed(1)),
      binding_limit_mib: rt().maxBinding / MiB,
      adapter: info.description,
    };
    if (values.json) console.log(JSON.stringify(row));
    else {
      console.log(
        `${what.padEnd(30)} ${String(batch).padStart(3)} ${row.per_s.toFixed(2).padStart(8)} ` +
          `${perCall.toFixed(3).padStart(8)} ${row.peak_live_mib.toFixed(0).padStart(9)} ` +
          `${row.largest_binding_mib.toFixed(1).padStart(10)} (limit ${row.binding_limit_mib})`,
      );
    }
    if (values.profile) await profile(what, step, perCall);
  }
  clip.dispose();
});

/** Each kernel's share of one call of `step`, replayed (stderr). */
async function profile(what: string, step: () => void, perCall: number): Promise<void> {
  const captured: CapturedDispatch[] = rt().capture = [];
  try {
    step();
  } finally {
    rt().capture = null;
  }
  const times = await replayByKernel(rt(), captured);
  const total = times.reduce((a, t) => a + t.seconds, 0);
  console.error(
    `# ${what}: ${captured.length} dispatches; replayed ${(1000 * total).toFixed(1)} ms ` +
      `against ${(1000 * perCall).toFixed(1)} ms measured per call`,
  );
  for (const t of times.slice(0, Number(values.top))) {
    console.error(
      `  ${t.name.padEnd(44)} ${String(t.dispatches).padStart(5)} × ` +
        `${(1000 * t.seconds).toFixed(2).padStart(9)} ms  ${
          (100 * t.seconds / total).toFixed(1)
        } %`,
    );
  }
}
