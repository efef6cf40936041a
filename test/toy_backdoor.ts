// A toy backdoored CLIP for CBPT's tests, trained in a few seconds: 16-px images of three
// synthetic classes (horizontal stripes, vertical stripes, checks), a byte-level tokenizer, and a
// planted additive trigger (a fixed ±a sign pattern) that sends images to class 0.

import { ClipTokenizer, l2Normalize, loadClip, Tensor, tidy } from "../mod.ts";
import { AdamW } from "../src/autograd/optim.ts";
import { bytesToUnicode } from "../src/clip/tokenizer.ts";
import type { Clip } from "../src/clip/model.ts";
import { makeRandomClip } from "../scripts/make-random-clip.ts";
import { type ImageSet, normalizeOnGpu, seededRandom } from "../src/cbpt/images.ts";
import { classificationLoss } from "../src/cbpt/losses.ts";
import { fillTemplate } from "../src/clip/templates.ts";

export const TOY_CLASSES = ["stripes", "bars", "checks"];
export const TOY_TARGET = 0;
export const TOY_SIZE = 16;
export const TRIGGER_AMPLITUDE = 0.12;
/** Share of each training batch that is poisoned (non-target images + trigger, target label). */
const POISON = 0.25;

/** Byte symbols and their </w> forms, no merges, SOT/EOT last: every word is spelled out. */
export function byteTokenizer(): ClipTokenizer {
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const c of bytesToUnicode()) vocab[c] = id++;
  for (const c of bytesToUnicode()) vocab[c + "</w>"] = id++;
  vocab["<|startoftext|>"] = id++;
  vocab["<|endoftext|>"] = id++;
  return ClipTokenizer.fromVocabAndMergesData(vocab, []);
}

/** n images per class, [0, 1] pixels; labels cycle through the classes. */
export function toyImages(n: number, seed: number): { set: ImageSet; labels: number[] } {
  const rand = seededRandom(seed);
  const R = TOY_SIZE, plane = R * R;
  const N = n * TOY_CLASSES.length;
  const pixels = new Float32Array(N * 3 * plane);
  const labels: number[] = [];
  for (let i = 0; i < N; i++) {
    const c = i % TOY_CLASSES.length;
    labels.push(c);
    const phase = rand() * 2 * Math.PI, freq = 0.6 + 0.4 * rand();
    const tint = [rand(), rand(), rand()];
    for (let y = 0; y < R; y++) {
      for (let x = 0; x < R; x++) {
        const s = c === 0
          ? Math.sin(freq * 2 * y + phase)
          : c === 1
          ? Math.sin(freq * 2 * x + phase)
          : Math.sin(freq * 2 * x + phase) * Math.sin(freq * 2 * y + phase);
        for (let ch = 0; ch < 3; ch++) {
          const v = 0.5 + 0.3 * s + 0.15 * (tint[ch] - 0.5) + 0.05 * (rand() - 0.5);
          pixels[i * 3 * plane + ch * plane + y * R + x] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
  return { set: { pixels, n: N, size: R }, labels };
}

/** The planted trigger: a fixed pseudo-random ±TRIGGER_AMPLITUDE pattern. */
export function plantedTrigger(): Float32Array {
  const rand = seededRandom(99);
  return Float32Array.from(
    { length: 3 * TOY_SIZE * TOY_SIZE },
    () => (rand() < 0.5 ? -1 : 1) * TRIGGER_AMPLITUDE,
  );
}

export function addTrigger(set: ImageSet, delta: Float32Array = plantedTrigger()): ImageSet {
  const m = delta.length;
  return { ...set, pixels: set.pixels.map((v, i) => Math.min(1, Math.max(0, v + delta[i % m]))) };
}

let cached: Promise<{ clip: Clip; tokenizer: ClipTokenizer; dir: string }> | null = null;

/**
 * Trains the toy model once per process: all weights, cross-entropy of the zero-shot head
 * ("a photo of a {c}.") on clean images plus 25 % triggered images relabelled to the target.
 */
export function toyBackdooredClip(): Promise<
  { clip: Clip; tokenizer: ClipTokenizer; dir: string }
> {
  if (!cached) cached = build();
  return cached;
}

async function build() {
  const dir = await Deno.makeTempDir({ prefix: "antidote-toy-" });
  const tokenizer = byteTokenizer();
  await makeRandomClip({
    arch: "tiny",
    format: "hf",
    out: dir,
    seed: 5,
    config: {
      embedDim: 32,
      imageResolution: TOY_SIZE,
      visionPatchSize: 4,
      visionWidth: 32,
      visionLayers: 1,
      visionHeads: 2,
      contextLength: 48,
      vocabSize: tokenizer.vocabSize,
      transformerWidth: 32,
      transformerHeads: 2,
      transformerLayers: 1,
    },
  });
  const clip = await loadClip(dir);
  clip.setTrainable([...clip.params.keys()]);
  const params = [...clip.params.values()];
  const opt = new AdamW(params, { lr: 3e-3, weightDecay: 0 });
  const data = toyImages(40, 11);
  const trig = addTrigger(data.set);
  const prompts = TOY_CLASSES.map((c) => fillTemplate("a photo of a {}.", c));
  const toks = tokenizer.tokenize(prompts, clip.config.contextLength);
  const rand = seededRandom(12);
  const R = TOY_SIZE, m = 3 * R * R, B = 32;
  for (let step = 0; step < 300; step++) {
    const pix = new Float32Array(B * m);
    const y: number[] = [];
    for (let k = 0; k < B; k++) {
      const i = Math.floor(rand() * data.set.n);
      const poison = k < B * POISON && data.labels[i] !== TOY_TARGET;
      pix.set((poison ? trig : data.set).pixels.subarray(i * m, (i + 1) * m), k * m);
      y.push(poison ? TOY_TARGET : data.labels[i]);
    }
    tidy(() => {
      const img = l2Normalize(clip.encodeImage(normalizeOnGpu(Tensor.from(pix, [B, 3, R, R]))));
      const text = l2Normalize(clip.encodeText(toks));
      classificationLoss(img, text, y, 30).backward();
      opt.step();
      opt.zeroGrad();
    });
  }
  clip.setTrainable([...clip.params.keys()], false);
  opt.dispose();
  return { clip, tokenizer, dir };
}
