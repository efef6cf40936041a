// Antidote against PyTorch, side by side: the same workloads on the same weights and inputs, the
// two sides interleaved (Antidote, PyTorch, PyTorch, Antidote, ...), one JSON line per workload
// on stdout: {"workload", "antidote_s", "torch_s", "ratio"}: seconds per call, medians over the
// reps, ratio = Antidote ÷ PyTorch (above 1: Antidote slower). Details (calls per rep, spread,
// versions, threads) go to stderr. docs/performance.md has a measured table.
//
// Usage: deno task vs-torch [--quick] [--only NAME[,NAME]] [--reps 5] [--seconds 1]
//                           [--clip-src DIR] [--python PATH] [--torch-threads N]
//                           [--fixture badnet]
//
// The PyTorch side (bench/vs-torch/torch_side.py, a long-lived worker speaking JSON lines) runs
// upstream openai/CLIP's `clip/model.py`, from `--clip-src DIR` (a checkout: DIR/clip/model.py)
// or the installed `clip` package; the repo holds no copy. It needs Python with PyTorch (Debian:
// `apt-get install python3-torch libopenblas0-pthread`): --python PATH or $ANTIDOTE_PYTHON, else
// the first of python3, /usr/bin/python3 that imports torch. Without one this prints one line
// and exits 2 (so does a missing model.py). It runs with OMP_WAIT_POLICY=PASSIVE (idle OpenMP
// threads sleep rather than spin, so they do not take the CPU from the Antidote rep that follows)
// and torch.set_num_threads(--torch-threads, default: every CPU this process may use, as llvmpipe
// does). Never run in CI.
//
// Workloads (--quick: the matmuls and the two stages, 3 reps, 0.5 s per rep):
//   matmul_MxKxN           f32 products [M, K] × [K, N] (`matmul`; torch.mm)
//   stage1_step            one stage-1 step (src/cbpt/trigger.ts invertOnce, additive trigger
//                          aimed at the fixture's target, 32 images) on the fixture; at least
//                          16 steps a call (the losses come back once per 16 steps)
//   stage2_epoch           one stage-2 epoch of the demo recipe (src/cbpt/tune.ts tunePrompts
//                          itself, DEMO_TUNE: Adam, full batch = one step, margin L_3); a call
//                          is a tunePrompts run of E epochs (E ≥ 30), features cached once in it
//   vitb32_text_fwd        ViT-B/32 text tower, 10 prompts × 77 tokens, no grad
//   vitb32_text_fwd_bwd_ctx   the same from CoOp prompt embeddings (16 context vectors a
//                          prompt), backward to the context
//   vitb32_image_fwd / vitb32_image_fwd_bwd_pixels   image tower on 4 images, no grad /
//                          backward to the pixels
//   rn50_image_fwd / rn50_image_fwd_bwd_pixels       the same on RN50
// ViT-B/32 and RN50 are random checkpoints (src/clip/random.ts, seed 1, f16 values as OpenAI
// released theirs), made once under $TMPDIR/antidote-vs-torch-*; both sides read that file.
// Antidote keeps such frozen linear weights as f16 pairs (its default; same results); PyTorch
// runs f32 (upstream's build_model would convert to f16, which PyTorch cannot run fast on CPU).
// The fixture's weights are written out in OpenAI names (f32) for the PyTorch side, with its
// few shots, zero-shot class features, prompt tokens and initial context and trigger, so both
// sides start from the same values.
//
// Timing: each side times its own calls (Antidote: the calls, then one GPU sync; PyTorch:
// perf_counter around the calls; the JSON round trip is not counted). Each workload runs once
// on each side to warm up (kernels compile, allocators fill); calls per rep are then set so an
// Antidote rep lasts about --seconds, and both sides run that many calls a rep.

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseFlags } from "../../src/cli/common.ts";
import {
  add,
  clamp,
  loadClip,
  matmul,
  noGrad,
  readTensors,
  runWithGpu,
  sum,
  sync,
  Tensor,
  tidy,
} from "../../mod.ts";
import { Adam, linfBall } from "../../src/autograd/optim.ts";
import type { Clip } from "../../src/clip/model.ts";
import type { ClipArchName } from "../../src/clip/config.ts";
import { loadClipWeights } from "../../src/clip/checkpoint.ts";
import { makeRandomClip } from "../../src/clip/random.ts";
import { imageFeatures } from "../../src/clip/pixels.ts";
import { ONE_TEMPLATE } from "../../src/clip/templates.ts";
import { zeroShotClassifier } from "../../src/clip/zeroshot.ts";
import { type TensorSpec, writeSafetensors } from "../../src/io/safetensors.ts";
import { subset } from "../../src/io/images.ts";
import { batchDrawer, mulberry32 } from "../../src/io/rng.ts";
import { inversionLoss } from "../../src/cbpt/trigger.ts";
import {
  initialContext,
  promptFeatures,
  type PromptTokens,
  promptTokens,
} from "../../src/cbpt/prompts.ts";
import { BatchedScalars, READ_EVERY } from "../../src/cbpt/readback.ts";
import { TRIGGER_DEFAULTS } from "../../src/cbpt/trigger.ts";
import { TUNE_DEFAULTS, tunePrompts } from "../../src/cbpt/tune.ts";
import {
  DEMO_TRIGGER,
  DEMO_TUNE,
  fixturesDir,
  type LoadedFixture,
  loadFixture,
} from "../../src/lab/demo.ts";
import { rt } from "../../src/gpu/runtime.ts";

const { values } = parseFlags({
  args: Deno.args,
  options: {
    quick: { type: "boolean" },
    only: { type: "string" },
    reps: { type: "string" },
    seconds: { type: "string" },
    "clip-src": { type: "string" },
    python: { type: "string" },
    "torch-threads": { type: "string" },
    fixture: { type: "string", default: "badnet" },
    help: { type: "boolean" },
  },
});

if (values.help) {
  console.log(
    "deno task vs-torch [--quick] [--only NAME[,NAME]] [--reps N] [--seconds S] " +
      "[--clip-src DIR] [--python PATH] [--torch-threads N] [--fixture NAME]\n" +
      "(bench/vs-torch/run.ts's header says what each workload is)",
  );
  Deno.exit(0);
}

const quick = values.quick ?? false;
const reps = Number(values.reps ?? (quick ? 3 : 5));
const target = Number(values.seconds ?? (quick ? 0.5 : 1));
if (!(Number.isInteger(reps) && reps >= 1)) throw new Error("--reps must be a whole number >= 1");
if (!(target > 0)) throw new Error("--seconds must be > 0");
const HERE = fileURLToPath(new URL(".", import.meta.url));
const note = (line: string) => console.error(line);

// ---- the PyTorch worker ------------------------------------------------------------------------

type Answer = Record<string, unknown> & { ok: boolean; error?: string };

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  if (buf.trim()) yield buf;
}

class TorchWorker {
  #proc: Deno.ChildProcess;
  #in: WritableStreamDefaultWriter<Uint8Array>;
  #out: AsyncGenerator<string>;

  constructor(python: string, args: string[]) {
    this.#proc = new Deno.Command(python, {
      args: [join(HERE, "torch_side.py"), ...args],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      env: { OMP_WAIT_POLICY: "PASSIVE" },
    }).spawn();
    this.#in = this.#proc.stdin.getWriter();
    this.#out = lines(this.#proc.stdout);
  }

  async call(req: Record<string, unknown>): Promise<Answer> {
    await this.#in.write(new TextEncoder().encode(JSON.stringify(req) + "\n"));
    const next = await this.#out.next();
    if (next.done) throw new Error("the PyTorch worker exited (its stderr is above)");
    const ans = JSON.parse(next.value) as Answer;
    if (!ans.ok) throw new Error(`PyTorch side: ${ans.error}`);
    return ans;
  }

  async close(): Promise<void> {
    await this.call({ op: "quit" }).catch(() => {});
    await this.#in.close().catch(() => {});
    await this.#proc.status;
  }
}

/** The first Python that imports torch, or null. */
async function findPython(): Promise<{ python: string; tried: string[] } | null> {
  // A Python named by --python or $ANTIDOTE_PYTHON is the only one tried.
  const named = values.python ?? Deno.env.get("ANTIDOTE_PYTHON");
  const tried = named ? [named] : ["python3", "/usr/bin/python3"];
  for (const python of tried) {
    try {
      const r = await new Deno.Command(python, {
        args: ["-c", "import torch, numpy"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (r.success) return { python, tried };
    } catch {
      // not installed: try the next
    }
  }
  console.error(
    `vs-torch: no Python with PyTorch (tried ${tried.join(", ")}); install it (Debian: ` +
      "apt-get install python3-torch libopenblas0-pthread) or pass --python PATH",
  );
  return null;
}

// ---- workloads ----------------------------------------------------------------------------------

/** One side of a workload: `run(calls)` does `calls` calls and returns its own seconds. */
interface Side {
  run(calls: number): Promise<number>;
  dispose(): void;
}

interface Workload {
  name: string;
  /** The PyTorch worker's workload name and spec. */
  torch: { workload: string; spec?: Record<string, unknown> };
  /** Shared setup: the model folder the PyTorch side loads (null: none). */
  group: "none" | "fixture" | ClipArchName;
  quick: boolean;
  /** Least calls a rep (stage 2: feature caching amortised over at least this many epochs). */
  minCalls?: number;
  antidote: (g: Group) => Side;
}

/** A loaded model and the folder whose weights and inputs the PyTorch side reads. */
interface Group {
  dir: string | null;
  clip?: Clip;
  fx?: LoadedFixture;
  tensors: Map<string, Tensor>;
  host: Map<string, unknown>;
}

/** Times `calls` calls of a synchronous GPU step, with one sync at the end. */
function syncSide(step: () => void, dispose: () => void = () => {}): Side {
  return {
    async run(calls) {
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) step();
      await sync();
      return (performance.now() - t0) / 1000;
    },
    dispose,
  };
}

/** Deterministic values in [-0.5, 0.5) (as bench/matmul.ts). */
function random(n: number, seed: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(n), rand = mulberry32(seed);
  for (let i = 0; i < n; i++) out[i] = rand() - 0.5;
  return out;
}

function matmulWorkload(M: number, K: number, N: number): Workload {
  return {
    name: `matmul_${M}x${K}x${N}`,
    torch: { workload: "matmul", spec: { M, K, N } },
    group: "none",
    quick: true,
    antidote: () => {
      // f32 product of fresh [M, K] and [K, N] tensors (the engine's `matmul`); torch.mm.
      const a = Tensor.from(random(M * K, 1), [M, K]).keep();
      const b = Tensor.from(random(K * N, 2), [K, N]).keep();
      return syncSide(() => noGrad(() => tidy(() => void matmul(a, b))), () => {
        a.dispose();
        b.dispose();
      });
    },
  };
}

const STAGE1 = { ...TRIGGER_DEFAULTS, ...DEMO_TRIGGER };

const stage1: Workload = {
  name: "stage1_step",
  torch: { workload: "stage1_step" },
  group: "fixture",
  quick: true,
  minCalls: READ_EVERY, // invertOnce reads the losses back once every READ_EVERY steps
  antidote: (g) => {
    // invertOnce's step (src/cbpt/trigger.ts), additive trigger aimed at the target as purify's
    // per-class search makes it: clamp(x + δ, 0, 1) of B few shots, its inversionLoss (InfoNCE +
    // cross-entropy to the target), backward to δ, Adam, L∞ projection; losses read back every
    // READ_EVERY steps and at the end of a call.
    const { clip, fx } = g as Required<Group>;
    const set = fx.train.set, labels = fx.train.labels, R = set.size;
    const classText = g.tensors.get("text0")!;
    const clean = imageFeatures(clip, set).keep();
    const delta = Tensor.from(g.host.get("delta_init") as Float32Array, [3, R, R], {
      requiresGrad: true,
    });
    const opt = new Adam([delta], { lr: STAGE1.lr, project: linfBall(STAGE1.epsilon) });
    const scale = g.host.get("scale") as number, aim = fx.record.targetIndex;
    const B = Math.min(STAGE1.batch, set.n);
    const nextBatch = batchDrawer(set.n, B, mulberry32(1));
    return {
      async run(calls) {
        const t0 = performance.now();
        const reader = new BatchedScalars<number>();
        const drain = async () => {
          for (const { values: [v] } of await reader.read()) {
            if (!Number.isFinite(v)) throw new Error("stage 1: the loss became non-finite");
          }
        };
        for (let step = 0; step < calls; step++) {
          const idx = nextBatch();
          const batch = subset(set, idx);
          const loss = tidy(() => {
            const x = Tensor.from(batch.pixels, [B, 3, R, R]);
            const l = inversionLoss(
              clip,
              clamp(add(x, delta), 0, 1),
              clean,
              idx,
              labels,
              classText,
              STAGE1.tau,
              { target: aim, scale },
            );
            l.backward();
            opt.step();
            opt.zeroGrad();
            return l;
          });
          if (reader.push(step, [loss])) await drain();
        }
        await drain();
        return (performance.now() - t0) / 1000;
      },
      dispose() {
        clean.dispose();
        delta.dispose();
        opt.dispose();
      },
    };
  },
};

const STAGE2 = { ...TUNE_DEFAULTS, ...DEMO_TUNE };

const stage2: Workload = {
  name: "stage2_epoch",
  torch: { workload: "stage2_epoch" },
  group: "fixture",
  quick: true,
  minCalls: 30,
  antidote: (g) => {
    // tunePrompts itself, `calls` epochs of the demo recipe, a zero trigger (bench/stage2.ts:
    // stage 2's cost does not depend on it), no checkpoint file.
    const { clip, fx } = g as Required<Group>;
    const R = fx.train.set.size;
    const trigger = {
      kind: "additive" as const,
      size: R,
      epsilon: 16 / 255,
      delta: new Float32Array(3 * R * R),
    };
    return {
      async run(calls) {
        const t0 = performance.now();
        await tunePrompts(
          clip,
          g.host.get("tokens") as PromptTokens,
          g.tensors.get("text0")!,
          g.host.get("ctx_init") as Float32Array,
          fx.train.set,
          fx.train.labels,
          trigger,
          fx.record.targetIndex,
          { ...STAGE2, epochs: calls },
          1,
        );
        return (performance.now() - t0) / 1000;
      },
      dispose() {},
    };
  },
};

const P = 10, M_CTX = 16, IMAGES = 4;

function archWorkloads(arch: "ViT-B/32" | "RN50"): Workload[] {
  const tag = arch === "RN50" ? "rn50" : "vitb32";
  const image: Workload[] = [
    {
      name: `${tag}_image_fwd`,
      torch: { workload: "image_fwd" },
      group: arch,
      quick: false,
      antidote: (g) => {
        const px = g.tensors.get("pixels")!;
        return syncSide(() => noGrad(() => tidy(() => void g.clip!.encodeImage(px))));
      },
    },
    {
      name: `${tag}_image_fwd_bwd_pixels`,
      torch: { workload: "image_fwd_bwd_pixels" },
      group: arch,
      quick: false,
      antidote: (g) => {
        const px = g.tensors.get("pixelsGrad")!;
        return syncSide(() =>
          tidy(() => {
            sum(g.clip!.encodeImage(px)).backward();
            px.grad?.dispose();
            px.grad = null;
          })
        );
      },
    },
  ];
  if (arch === "RN50") return image;
  return [
    {
      name: `${tag}_text_fwd`,
      torch: { workload: "text_fwd" },
      group: arch,
      quick: false,
      antidote: (g) => {
        const tokens = g.host.get("tokens") as { ids: Int32Array; shape: number[] };
        return syncSide(() => noGrad(() => tidy(() => void g.clip!.encodeText(tokens))));
      },
    },
    {
      name: `${tag}_text_fwd_bwd_ctx`,
      torch: { workload: "text_fwd_bwd_ctx" },
      group: arch,
      quick: false,
      antidote: (g) => {
        const clip = g.clip!, ctx = g.tensors.get("ctx")!;
        const tokens = g.host.get("tokens") as { ids: Int32Array; shape: number[] };
        return syncSide(() =>
          tidy(() => {
            sum(clip.encodeTextFromEmbeddings(clip.promptEmbeddings(ctx, tokens), tokens))
              .backward();
            ctx.grad?.dispose();
            ctx.grad = null;
          })
        );
      },
    },
    ...image,
  ];
}

const WORKLOADS: Workload[] = [
  matmulWorkload(77, 512, 2048),
  matmulWorkload(50, 768, 3072),
  matmulWorkload(1024, 1024, 1024),
  stage2,
  stage1,
  ...archWorkloads("ViT-B/32"),
  ...archWorkloads("RN50"),
];

// ---- groups: the models and the files both sides read ------------------------------------------

const f32 = (shape: number[], data: Float32Array): TensorSpec => ({ dtype: "F32", shape, data });
const i32 = (shape: number[], data: Int32Array): TensorSpec => ({ dtype: "I32", shape, data });

async function writeGroupFiles(
  dir: string,
  config: object,
  weights: string,
  inputs: Record<string, TensorSpec>,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "vs-torch-config.json"),
    JSON.stringify({ ...config, weights }, null, 2),
  );
  await writeSafetensors(join(dir, "vs-torch-inputs.safetensors"), inputs);
}

async function fixtureGroup(tmp: string): Promise<Group> {
  const fx = await loadFixture(values.fixture);
  const { clip, tokenizer, classNames } = fx;
  const dir = join(tmp, "fixture");
  await Deno.mkdir(dir, { recursive: true });
  // The fixture's weights under OpenAI's names (canonical layout, f32): upstream's state dict.
  const w = await loadClipWeights(join(fixturesDir(), values.fixture));
  const specs: Record<string, TensorSpec> = {};
  for (const [name, t] of w.tensors) specs[name] = f32(t.shape, t.data);
  await writeSafetensors(join(dir, "model.safetensors"), specs);
  const text0 = zeroShotClassifier(clip, tokenizer, classNames, ONE_TEMPLATE);
  const tokens = promptTokens(tokenizer, classNames, M_CTX, clip.config.contextLength);
  const init = await initialContext(clip, tokenizer, classNames.length, M_CTX, "random", 1);
  const [text0Host] = await readTensors([text0]);
  const R = fx.train.set.size, Wt = clip.config.transformerWidth;
  const rand = mulberry32(1);
  const deltaInit = Float32Array.from(
    { length: 3 * R * R },
    () => (2 * rand() - 1) * STAGE1.epsilon,
  );
  await writeGroupFiles(dir, clip.config, "model.safetensors", {
    pixels: f32([fx.train.set.n, 3, R, R], fx.train.set.pixels),
    labels: i32([fx.train.labels.length], Int32Array.from(fx.train.labels)),
    text0: f32([classNames.length, clip.config.embedDim], text0Host),
    prompt_ids: i32([...tokens.shape], tokens.ids),
    ctx_init: f32([classNames.length, M_CTX, Wt], init),
    trigger: f32([3, R, R], new Float32Array(3 * R * R)),
    delta_init: f32([3, R, R], deltaInit),
  });
  const scale = Math.exp((await clip.param("logit_scale").toArray())[0]);
  note(
    `# fixture ${values.fixture}: ${fx.train.set.n} few shots of ${R} px, ${classNames.length} ` +
      `classes, prompts [${tokens.shape}], target ${fx.record.targetIndex}`,
  );
  return {
    dir,
    clip,
    fx,
    tensors: new Map([["text0", text0]]),
    host: new Map<string, unknown>([
      ["tokens", tokens],
      ["ctx_init", init],
      ["delta_init", deltaInit],
      ["scale", scale],
    ]),
  };
}

async function archGroup(arch: ClipArchName, tmp: string): Promise<Group> {
  const cache = join(
    Deno.env.get("TMPDIR") ?? "/tmp",
    `antidote-vs-torch-${arch.replace("/", "-")}-f16`,
  );
  try {
    await Deno.stat(join(cache, "open_clip_config.json"));
  } catch {
    note(`# making a random ${arch} checkpoint in ${cache} ...`);
    await makeRandomClip({ arch, format: "openai", out: cache, seed: 1, dtype: "f16" });
  }
  const clip = await loadClip(cache);
  const c = clip.config;
  const R = c.imageResolution, T = c.contextLength, Wt = c.transformerWidth;
  // As bench/clip.ts: sin pixels (already normalised), prompts SOT, 16 context slots, 5 "class"
  // tokens, EOT, padding to 77; context vectors N(0, 0.02)-ish.
  const px = new Float32Array(IMAGES * 3 * R * R).map((_, i) => Math.sin(i * 0.37));
  const sot = c.vocabSize - 2, eot = c.vocabSize - 1;
  const ids = new Int32Array(P * T);
  for (let p = 0; p < P; p++) {
    const row = [
      sot,
      ...Array(M_CTX).fill(343),
      ...[1, 2, 3, 4, 5].map((k) => 400 + 7 * p + k),
      eot,
    ];
    ids.set(row.slice(0, T), p * T);
  }
  const ctx = random(P * M_CTX * Wt, 3).map((v) => 0.04 * v);
  const dir = join(tmp, arch.replace("/", "-"));
  await writeGroupFiles(dir, c, join(cache, "model.safetensors"), {
    pixels: f32([IMAGES, 3, R, R], px),
    ids: i32([P, T], ids),
    ctx: f32([P, M_CTX, Wt], ctx),
  });
  return {
    dir,
    clip,
    tensors: new Map([
      ["pixels", Tensor.from(px, [IMAGES, 3, R, R]).keep()],
      ["pixelsGrad", Tensor.from(px, [IMAGES, 3, R, R], { requiresGrad: true }).keep()],
      ["ctx", Tensor.from(ctx, [P, M_CTX, Wt], { requiresGrad: true }).keep()],
    ]),
    host: new Map([["tokens", { ids, shape: [P, T] }]]),
  };
}

/**
 * The same features from both sides, before any timing: a like-for-like comparison needs the two
 * models to agree (f32 round-off apart). Prints the largest difference relative to the largest
 * value, and a warning above 1e-3.
 */
async function compareSides(g: Group, name: string, worker: TorchWorker, spec: object) {
  const clip = g.clip!;
  const mine = noGrad(() => {
    if (g.fx) {
      const { set } = g.fx.train, tokens = g.host.get("tokens") as PromptTokens;
      const C = tokens.shape[0], Wt = clip.config.transformerWidth;
      const ctx = Tensor.from(g.host.get("ctx_init") as Float32Array, [C, tokens.nCtx, Wt]);
      return [
        imageFeatures(clip, subset(set, [0, 1, 2, 3, 4, 5, 6, 7])),
        promptFeatures(clip, ctx, tokens),
      ];
    }
    const tokens = g.host.get("tokens") as { ids: Int32Array; shape: number[] };
    return [clip.encodeImage(g.tensors.get("pixels")!), clip.encodeText(tokens)];
  });
  const [img, txt] = await readTensors(mine);
  for (const t of mine) t.dispose();
  const theirs = await worker.call({ op: "probe", dir: g.dir, spec });
  const rel = (a: Float32Array, b: number[]) => {
    let d = 0, m = 0;
    a.forEach((v, i) => {
      d = Math.max(d, Math.abs(v - b[i]));
      m = Math.max(m, Math.abs(b[i]));
    });
    return a.length === b.length ? d / m : Infinity;
  };
  const ri = rel(img, theirs.image as number[]), rt_ = rel(txt, theirs.text as number[]);
  note(
    `# ${name}: same inputs, image features agree to ${ri.toExponential(1)}, text features to ` +
      `${rt_.toExponential(1)} (max |Δ| / max |x|)`,
  );
  if (!(Math.max(ri, rt_) < 1e-3)) {
    note(`# WARNING: the two sides' ${name} models disagree: the times below compare unlike work`);
  }
}

/** The mean/std that Antidote normalises [0, 1] pixels with (the model's own), for PyTorch. */
const pixelStats = (g: Group) => ({
  mean: [...(g.clip?.pixelStats.mean ?? [])],
  std: [...(g.clip?.pixelStats.std ?? [])],
});

// ---- the run -----------------------------------------------------------------------------------

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const sig = (x: number) => Number(x.toPrecision(4));

const onlyList = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
const chosen = WORKLOADS.filter((w) =>
  onlyList ? onlyList.some((o) => w.name === o || w.name.includes(o)) : !quick || w.quick
);
if (chosen.length === 0) {
  console.error(
    `vs-torch: --only ${values.only} names no workload (${WORKLOADS.map((w) => w.name)})`,
  );
  Deno.exit(2);
}

const found = await findPython();
if (!found) Deno.exit(2);
const workerArgs = [
  ...(values["clip-src"] ? ["--clip-src", values["clip-src"]] : []),
  ...(values["torch-threads"] ? ["--threads", values["torch-threads"]] : []),
];
// Checks that upstream model.py loads before any Antidote work.
const check = await new Deno.Command(found.python, {
  args: [join(HERE, "torch_side.py"), ...workerArgs, "--check"],
  stdout: "piped",
  stderr: "inherit",
  env: { OMP_WAIT_POLICY: "PASSIVE" },
}).output();
const hello = JSON.parse(new TextDecoder().decode(check.stdout).trim() || "{}") as Answer;
if (!check.success || !hello.ok) {
  console.error(`vs-torch: ${hello.error ?? "the PyTorch side did not start"}`);
  Deno.exit(2);
}

await runWithGpu(async () => {
  const worker = new TorchWorker(found.python, workerArgs);
  const tmp = await Deno.makeTempDir({ prefix: "antidote-vs-torch-" });
  try {
    await worker.call({ op: "hello" });
    let load = "";
    try {
      load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
    } catch { /* not Linux */ }
    note(
      `# Antidote on ${rt().gpu.summary.description}; PyTorch ${hello.torch} ` +
        `(${hello.threads} threads, Python ${hello.python}, ${hello.executable}); ` +
        `model code ${hello.model_py}; ${navigator.hardwareConcurrency} CPUs` +
        (load ? `, load ${load}` : "") + `; ${reps} reps, ~${target} s a rep`,
    );
    let group = null as { key: Workload["group"]; g: Group } | null;
    for (const w of chosen) {
      if (group?.key !== w.group) {
        if (group) {
          for (const t of group.g.tensors.values()) t.dispose();
          group.g.clip?.dispose();
          if (group.g.dir) await worker.call({ op: "drop", dir: group.g.dir });
        }
        const g: Group = w.group === "none"
          ? { dir: null, tensors: new Map(), host: new Map() }
          : w.group === "fixture"
          ? await fixtureGroup(tmp)
          : await archGroup(w.group, tmp);
        group = { key: w.group, g };
        if (g.dir) await compareSides(g, w.group, worker, pixelStats(g));
      }
      const g = group.g;
      const spec = {
        ...pixelStats(g),
        readEvery: READ_EVERY,
        target: g.fx?.record.targetIndex,
        ...STAGE1,
        settings: STAGE2,
        ...w.torch.spec,
      };
      await worker.call({ op: "setup", workload: w.torch.workload, dir: g.dir, spec });
      const a = w.antidote(g);
      try {
        const torchRun = async (calls: number) =>
          (await worker.call({ op: "run", calls })).seconds as number;
        // Warm-up: one call each; a second Antidote call (compiled by then) sizes the reps.
        const warm = await a.run(1);
        await torchRun(1);
        const one = warm < 2 * target ? await a.run(1) : warm;
        const calls = Math.min(64, Math.max(w.minCalls ?? 1, Math.ceil(target / one)));
        const at: number[] = [], tt: number[] = [];
        for (let r = 0; r < reps; r++) {
          const sides = [
            async () => at.push((await a.run(calls)) / calls),
            async () => tt.push((await torchRun(calls)) / calls),
          ];
          if (r % 2) sides.reverse();
          for (const s of sides) await s();
        }
        const aS = median(at), tS = median(tt);
        console.log(JSON.stringify({
          workload: w.name,
          antidote_s: sig(aS),
          torch_s: sig(tS),
          ratio: sig(aS / tS),
        }));
        const range = (xs: number[]) => `${sig(Math.min(...xs))}..${sig(Math.max(...xs))}`;
        note(
          `#   ${w.name}: ${calls} call(s) a rep; antidote ${range(at)} s, torch ${range(tt)} s`,
        );
      } finally {
        a.dispose();
      }
    }
    if (group) {
      for (const t of group.g.tensors.values()) t.dispose();
      group.g.clip?.dispose();
    }
  } finally {
    await worker.close();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});
