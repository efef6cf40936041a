// Stage 1 at real size: the contrastive trigger inversion (src/cbpt/trigger.ts, untargeted, as
// `--search untargeted` runs it) on a random checkpoint of a real architecture, with its early
// stop, and with --full once more without it (the same steps up to the stop, then the rest), to
// show what the stop saves and that the suspected target stays the same. Images are synthetic
// (smooth random colour fields at the model's resolution, labels i mod C); the class text
// features are the zero-shot head of C made-up names. One ε bound (no ladder) unless --ladder.
//
// Prints, per run: the steps used, seconds a step, the suspected target and its share; and what
// all `--steps` would have cost at the measured rate.
//
// Usage: deno run -A bench/stage1.ts [--arch ViT-B/32] [--classes 10] [--shots 2] [--steps 500]
//        [--batch 8] [--full] [--ladder] [--model DIR | --fixture NAME] [--json]
// --fixture: a lab fixture (fixtures/NAME) with its own few shots and class names.

import { parseFlags } from "../src/cli/common.ts";
import { CLIP_ARCHS, type ClipArchName, ClipTokenizer, loadClip, runWithGpu } from "../mod.ts";
import { mulberry32 } from "../src/io/rng.ts";
import { ONE_TEMPLATE } from "../src/clip/templates.ts";
import { zeroShotClassifier } from "../src/clip/zeroshot.ts";
import {
  type InversionResult,
  invertTrigger,
  stepsRun,
  TRIGGER_DEFAULTS,
} from "../src/cbpt/trigger.ts";
import { loadFixture } from "../src/lab/demo.ts";
import { randomCheckpoint } from "./random_checkpoint.ts";

const { values } = parseFlags({
  args: Deno.args,
  options: {
    arch: { type: "string", default: "ViT-B/32" },
    classes: { type: "string", default: "10" },
    shots: { type: "string", default: "2" },
    steps: { type: "string", default: String(TRIGGER_DEFAULTS.steps) },
    batch: { type: "string", default: "8" },
    full: { type: "boolean" },
    ladder: { type: "boolean" },
    model: { type: "string" },
    fixture: { type: "string" },
    json: { type: "boolean" },
  },
});
const arch = values.arch as ClipArchName;
if (!(arch in CLIP_ARCHS)) throw new Error(`--arch must be one of ${Object.keys(CLIP_ARCHS)}`);
const C = Number(values.classes), SHOTS = Number(values.shots);
const STEPS = Number(values.steps), B = Number(values.batch);
for (const [k, v] of [["classes", C], ["shots", SHOTS], ["steps", STEPS], ["batch", B]]) {
  if (!(Number.isInteger(v) && (v as number) >= 1)) throw new Error(`--${k} ${v}: expected >= 1`);
}
if (C < 2 || C * SHOTS < 2) throw new Error("--classes and --shots: need 2 classes, 2 images");
const say = (line: string) => values.json || console.log(line);

/** n smooth colour fields at R px: a few random low-frequency waves per channel, in [0, 1]. */
function smoothImages(n: number, R: number, seed: number): Float32Array {
  const rand = mulberry32(seed), out = new Float32Array(n * 3 * R * R);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < 3; ch++) {
      const waves = Array.from({ length: 3 }, () => [rand() * 4, rand() * 4, rand() * 6, rand()]);
      const base = (i * 3 + ch) * R * R;
      for (let y = 0; y < R; y++) {
        for (let x = 0; x < R; x++) {
          let v = 0.5;
          for (const [fx, fy, ph, a] of waves) {
            v += (0.15 * a) * Math.sin((2 * Math.PI * (fx * x + fy * y)) / R + ph);
          }
          out[base + y * R + x] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
  return out;
}

/** The model, its few shots and class names: a lab fixture's, or a random checkpoint's. */
async function workload() {
  if (values.fixture) {
    const fx = await loadFixture(values.fixture);
    return { clip: fx.clip, tok: fx.tokenizer, names: fx.classNames, ...fx.train };
  }
  const dir = values.model ?? await randomCheckpoint(arch);
  const clip = await loadClip(dir);
  const R = clip.config.imageResolution, N = C * SHOTS;
  return {
    clip,
    tok: await ClipTokenizer.fromDir(dir).catch(() => ClipTokenizer.bundled()),
    names: Array.from({ length: C }, (_, c) => `thing ${c}`),
    set: { pixels: smoothImages(N, R, 7), n: N, size: R },
    labels: Array.from({ length: N }, (_, i) => i % C),
  };
}

await runWithGpu(async () => {
  const { clip, tok, names, set, labels } = await workload();
  const text0 = zeroShotClassifier(clip, tok, names, ONE_TEMPLATE);
  const settings = {
    ...TRIGGER_DEFAULTS,
    steps: STEPS,
    batch: B,
    epsilonLadder: values.ladder ? TRIGGER_DEFAULTS.epsilonLadder : [],
  };
  say(
    `# ${values.fixture ?? values.model ?? `${arch} (random weights)`}, ${names.length} ` +
      `classes, ${set.n} images at ${set.size} px, untargeted inversion, at most ${STEPS} steps ` +
      `of ${Math.min(B, set.n)} images`,
  );
  const runs: Record<string, unknown> = {};
  const one = async (what: string, flatTolerance: number) => {
    const r: InversionResult = await invertTrigger(
      clip,
      set,
      labels,
      text0,
      { ...settings, flatTolerance },
      1,
      (line) => values.json || console.error(line),
    );
    const steps = stepsRun(r.attempts);
    const perStep = r.seconds / steps;
    runs[what] = {
      steps,
      attempts: r.attempts.map((a) => ({
        epsilon: a.epsilon,
        steps: a.steps,
        share: a.targetShare,
      })),
      seconds: r.seconds,
      seconds_per_step: perStep,
      target: r.suspectedTarget,
      share: r.targetShare,
    };
    say(
      `${what}: ${steps} steps (${r.attempts.map((a) => a.steps).join(" + ")} over ` +
        `${r.attempts.length} bound(s)) in ${r.seconds.toFixed(1)} s, ${perStep.toFixed(2)} s a ` +
        `step; suspected target ${r.suspectedTarget} (${(100 * r.targetShare).toFixed(1)} %); ` +
        `all ${STEPS} steps a bound would take ~${
          ((perStep * STEPS * r.attempts.length) / 60).toFixed(1)
        } min`,
    );
  };
  await one("early stop", TRIGGER_DEFAULTS.flatTolerance);
  if (values.full) await one("every step", 0);
  text0.dispose();
  if (values.json) {
    console.log(
      JSON.stringify({
        model: values.fixture ?? values.model ?? arch,
        classes: names.length,
        images: set.n,
        batch: Math.min(B, set.n),
        steps: STEPS,
        ...runs,
      }),
    );
  }
});
