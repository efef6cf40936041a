// Pictures of the seven backdoor-lab attacks (docs/attacks.md): for each, one image at 224 px,
// attacked, with thumbnails of the clean image and of the (amplified) difference beside it,
// written to docs/attacks/<name>.png.
//
//   deno run -A scripts/attack-pictures.ts [--image fixtures/oracle/images/chelsea.png]
//     [--out docs/attacks] [--seed 0] [--model DIR --vocab PATH] [--steps 150]
//
// BadCLIP's patch is optimised here (optimiseBadClipPatch) against --model, or, without one,
// against a randomly initialised tiny ViT CLIP made at 224 px with CLIP's real vocabulary, so the
// picture shows the mechanics (a patch optimised toward "a photo of a banana."), not a patch
// that carries meaning for a trained model. The optimisation images are fixtures/oracle/images other
// than the pictured one.

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadClip, runWithGpu } from "../mod.ts";
import { makeRandomClip } from "../src/clip/random.ts";
import { loadTokenizer, parseFlags } from "../src/cli/common.ts";
import { BUNDLED_VOCAB } from "../src/clip/tokenizer.ts";
import {
  ATTACK_NAMES,
  type AttackName,
  encodeTargetText,
  makeAttack,
  optimiseBadClipPatch,
} from "../src/attacks/index.ts";

const USAGE = `usage: deno run -A scripts/attack-pictures.ts [--image PNG] [--out DIR] [--seed N]
         [--model DIR --vocab PATH] [--steps N]`;

const oracle = fileURLToPath(new URL("../fixtures/oracle/", import.meta.url));
const { values } = parseFlags({
  args: Deno.args,
  options: {
    image: { type: "string", default: join(oracle, "images/chelsea.png") },
    out: { type: "string", default: fileURLToPath(new URL("../docs/attacks/", import.meta.url)) },
    seed: { type: "string", default: "0" },
    model: { type: "string" },
    vocab: { type: "string", default: BUNDLED_VOCAB },
    steps: { type: "string", default: "150" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}

const S = 224, GAP = 4, THUMB = 80;

/** An image file as CHW [0, 1] at size×size (stretched, as PIL's resize((224, 224))). */
async function loadImage(path: string, size: number): Promise<Float32Array> {
  const { sharp } = await import("../src/io/sharp.ts");
  const { data, info } = await sharp(path)
    .flatten({ background: "#ffffff" })
    .toColourspace("srgb")
    .resize(size, size, { fit: "fill", kernel: "cubic" })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${path}: ${info.channels} channels after decoding`);
  const plane = size * size, out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = data[i * 3 + c] / 255;
  }
  return out;
}

/** CHW [0, 1] → interleaved RGB bytes. */
function toRgb(chw: Float32Array, size: number): Uint8Array {
  const plane = size * size, out = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      out[i * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, chw[c * plane + i])));
    }
  }
  return out;
}

/** RGB bytes size×size → thumb×thumb (sharp's lanczos3). */
async function thumbnail(rgb: Uint8Array, size: number, thumb: number): Promise<Uint8Array> {
  const { sharp } = await import("../src/io/sharp.ts");
  const raw = await sharp(rgb, { raw: { width: size, height: size, channels: 3 } })
    .resize(thumb, thumb).raw().toBuffer();
  return new Uint8Array(raw);
}

/**
 * The picture: the attacked image at full size, and beside it a column of two thumbnails, the
 * clean image above and the difference below (max over channels of |attacked − clean|, scaled
 * so that its largest value is bright red). Thumbnails keep every picture under 150 KB: the
 * attacked image is lossless at full size, and Blended's noise alone costs ~117 KB.
 */
async function writePicture(
  path: string,
  attacked: Float32Array,
  clean: Float32Array,
  size: number,
): Promise<{ bytes: number; gain: number }> {
  const { sharp } = await import("../src/io/sharp.ts");
  const plane = size * size, diff = new Float32Array(3 * plane);
  let peak = 0;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      diff[i] = Math.max(diff[i], Math.abs(attacked[c * plane + i] - clean[c * plane + i]));
    }
    peak = Math.max(peak, diff[i]);
  }
  const gain = peak > 0 ? 1 / peak : 1;
  for (let i = 0; i < plane; i++) diff[i] *= gain; // red channel only; green and blue stay 0
  const width = size + GAP + THUMB;
  const rgb = new Uint8Array(width * size * 3).fill(255);
  const a = toRgb(attacked, size);
  for (let y = 0; y < size; y++) {
    rgb.set(a.subarray(y * size * 3, (y + 1) * size * 3), y * width * 3);
  }
  const thumbs = [
    await thumbnail(toRgb(clean, size), size, THUMB),
    await thumbnail(toRgb(diff, size), size, THUMB),
  ];
  thumbs.forEach((t, k) => {
    for (let y = 0; y < THUMB; y++) {
      const row = k * (THUMB + GAP) + y;
      rgb.set(t.subarray(y * THUMB * 3, (y + 1) * THUMB * 3), (row * width + size + GAP) * 3);
    }
  });
  const png = await sharp(rgb, { raw: { width, height: size, channels: 3 } })
    .png({ compressionLevel: 9, adaptiveFiltering: true })
    .toBuffer();
  await Deno.writeFile(path, new Uint8Array(png));
  return { bytes: png.length, gain };
}

/** BadCLIP's patch (16 px at 224) optimised toward "a photo of a banana.". */
async function badClipPatch(seed: number, steps: number): Promise<Float32Array> {
  let dir: string | null = null, modelDir = values.model;
  if (!modelDir) {
    dir = await Deno.makeTempDir({ prefix: "attack-pictures-" });
    modelDir = join(dir, "tiny224");
    await makeRandomClip({
      arch: "tiny",
      format: "hf",
      out: modelDir,
      seed,
      config: { imageResolution: S, visionPatchSize: 32, vocabSize: 49408, contextLength: 77 },
    });
  }
  try {
    const clip = await loadClip(modelDir);
    if (clip.config.imageResolution !== S) {
      throw new Error(
        `--model: its resolution is ${clip.config.imageResolution}, pictures are ${S}`,
      );
    }
    const tokenizer = await loadTokenizer(modelDir, values.vocab);
    const target = encodeTargetText(clip, tokenizer, ["a photo of a banana."]);
    const others = [];
    for (const e of Deno.readDirSync(join(oracle, "images"))) {
      const path = join(oracle, "images", e.name);
      if (e.isFile && path !== values.image && /\.(png|jpg)$/.test(e.name)) others.push(path);
    }
    others.sort();
    const imgs = new Float32Array(others.length * 3 * S * S);
    for (let i = 0; i < others.length; i++) imgs.set(await loadImage(others[i], S), i * 3 * S * S);
    const res = await optimiseBadClipPatch(clip, target, imgs, [others.length, 3, S, S], {
      steps,
      lr: 0.01,
      batchSize: 8,
      seed,
    });
    console.error(
      `badclip: ${others.length} images, ${steps} steps: cosine to the target text ` +
        `clean ${res.cleanCosine.toFixed(4)}, initial patch ${res.initialCosine.toFixed(4)}, ` +
        `optimised ${res.finalCosine.toFixed(4)} (${res.seconds.toFixed(1)} s, ` +
        `${values.model ? values.model : "random tiny ViT at 224 px"})`,
    );
    target.dispose();
    clip.dispose();
    return res.patch;
  } finally {
    if (dir) await Deno.remove(dir, { recursive: true });
  }
}

await runWithGpu(async () => {
  const seed = Number(values.seed), steps = Number(values.steps);
  if (!Number.isInteger(seed) || !Number.isInteger(steps) || steps < 0) {
    throw new Error(`--seed and --steps must be integers\n${USAGE}`);
  }
  await Deno.mkdir(values.out!, { recursive: true });
  const clean = await loadImage(values.image!, S);
  const shape = [1, 3, S, S] as const;
  const patch = await badClipPatch(seed, steps);
  for (const name of ATTACK_NAMES as readonly AttackName[]) {
    const attack = name === "badclip"
      ? makeAttack("badclip", { imageSize: S, seed, patch })
      : makeAttack(name, { imageSize: S, seed } as never);
    const attacked = attack.apply(clean, shape, { index: 0 });
    const path = join(values.out!, `${name}.png`);
    const { bytes, gain } = await writePicture(path, attacked, clean, S);
    console.error(`${path}: ${(bytes / 1024).toFixed(1)} KB (difference ×${gain.toFixed(1)})`);
  }
});
