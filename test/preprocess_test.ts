// CLIP image preprocessing: against the upstream PIL/torchvision reference in fixtures/oracle, and on
// inputs built here with sharp or by hand (grey, palette, alpha, 16-bit, JPEG/WebP/GIF, corrupt
// files), so that most of it runs without fixtures/oracle.

import { crc32 } from "../src/io/png.ts";
import { concatBytes } from "../src/io/files.ts";
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { type Sharp, sharp } from "../src/io/sharp.ts";
import {
  centerCropOffsets,
  CLIP_MEAN,
  CLIP_STD,
  decodeImage,
  ImageLoadError,
  MAX_IMAGE_PIXELS,
  preprocessImage,
  preprocessImages,
  resizedSize,
} from "../src/clip/preprocess.ts";
import { readSafetensors, toFloat32 } from "../src/io/safetensors.ts";
import { oracleDir, rng } from "./helpers.ts";

const oracle = oracleDir();

const SIZE = 224;
const PER = 3 * SIZE * SIZE;

/**
 * Measured against fixtures/oracle/reference/preprocess-224.safetensors (openai/CLIP `_transform(224)`
 * on Pillow): every image is bit-identical, mean and max |difference| 0 in normalised units.
 * The bounds below keep the mean ≤ 0.01 and a max of 1e-6 (float32 noise, were any).
 */
const MEASURED: Record<string, { mean: number; max: number }> = {
  "astronaut.png": { mean: 0, max: 0 }, // 512x512 RGB, ICC profile (ignored, as by Pillow)
  "camera.png": { mean: 0, max: 0 }, // 512x512 grey "L"
  "chelsea.png": { mean: 0, max: 0 }, // 451x300 RGB, ICC profile
  "coffee.png": { mean: 0, max: 0 }, // 600x400 RGB
  "horse.png": { mean: 0, max: 0 }, // 400x328 RGBA, alpha 110/217/255: premultiplied resize
  "hubble_deep_field.jpg": { mean: 0, max: 0 }, // 1000x872 JPEG (libjpeg-turbo both sides)
  "logo.png": { mean: 0, max: 0 }, // 500x500 RGBA
  "motorcycle_left.png": { mean: 0, max: 0 }, // 741x500 RGB
  "palette_color.png": { mean: 0, max: 0 }, // 10x10 palette "P": NEAREST upscale
};
const MEAN_BOUND = 0.01;
const MAX_BOUND = 1e-6;

function diffStats(a: ArrayLike<number>, b: ArrayLike<number>): { mean: number; max: number } {
  assert.equal(a.length, b.length);
  let sum = 0, max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    if (!(d <= max)) max = d;
  }
  return { mean: sum / a.length, max };
}

/** Back to 0..255 pixel units (undoing Normalize and ToTensor), per CHW element. */
function toPixels(x: Float32Array, size = SIZE): Float64Array {
  const plane = size * size, out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / plane);
    out[i] = (x[i] * CLIP_STD[c] + CLIP_MEAN[c]) * 255;
  }
  return out;
}

function assertFinite(x: Float32Array, name: string) {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) assert.fail(`${name}: non-finite value ${x[i]} at ${i}`);
  }
}

// ---- the upstream reference ----------------------------------------------------------------

Deno.test({
  name: "preprocess: reference images match openai/CLIP _transform(224) on Pillow",
  fn: async () => {
    const st = await readSafetensors(`${oracle}reference/preprocess-224.safetensors`);
    assert.equal(st.metadata?.n_px, "224");
    assert.deepEqual([...st.tensors.keys()].sort(), Object.keys(MEASURED).sort());
    const lines: string[] = [];
    for (const [name, t] of st.tensors) {
      assert.deepEqual(t.shape, [3, SIZE, SIZE], name);
      const expected = toFloat32(t, name);
      const got = await preprocessImage(`${oracle}images/${name}`, SIZE);
      const { mean, max } = diffStats(got, expected);
      lines.push(`${name}: mean ${mean.toExponential(2)}, max ${max.toExponential(2)}`);
      assert.ok(mean <= MEAN_BOUND, `${name}: mean |diff| ${mean} > ${MEAN_BOUND}`);
      assert.ok(max <= MAX_BOUND, `${name}: max |diff| ${max} > ${MAX_BOUND} (measured 0)`);
    }
    console.log("  " + lines.join("\n  "));
  },
});

Deno.test({
  name: "preprocess: batch of the reference images equals the single-image results",
  fn: async () => {
    const paths = Object.keys(MEASURED).map((n) => `${oracle}images/${n}`);
    const batch = await preprocessImages(paths, SIZE);
    assert.deepEqual(batch.shape, [paths.length, 3, SIZE, SIZE]);
    assert.deepEqual(batch.loaded, paths);
    assert.deepEqual(batch.errors, []);
    assert.equal(batch.pixels.length, paths.length * PER);
    for (const i of [0, 4, paths.length - 1]) {
      const one = await preprocessImage(paths[i], SIZE);
      assert.deepEqual(batch.pixels.subarray(i * PER, (i + 1) * PER), one, paths[i]);
    }
  },
});

// ---- geometry -----------------------------------------------------------------------------

Deno.test("preprocess: torchvision Resize/CenterCrop geometry (truncation, round half even)", () => {
  assert.deepEqual(resizedSize(400, 328, 224), [273, 224]); // int(273.17)
  assert.deepEqual(resizedSize(300, 451, 224), [224, 336]); // int(336.75)
  assert.deepEqual(resizedSize(10, 10, 224), [224, 224]);
  assert.deepEqual(centerCropOffsets(273, 224, 224), [24, 0]); // round(24.5) = 24
  assert.deepEqual(centerCropOffsets(275, 224, 224), [26, 0]); // round(25.5) = 26
  assert.deepEqual(centerCropOffsets(224, 336, 224), [0, 56]);
});

// ---- inputs built here --------------------------------------------------------------------

/** A deterministic photo-like RGB(A) pattern: gradients, a checkerboard and noise. */
function pattern(w: number, h: number, channels: number, seed = 1): Uint8Array {
  const r = rng(seed), out = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < channels; c++) {
        const v = 128 + 90 * Math.sin(x / (6 + 3 * c) + y / (9 + c)) +
          (((x >> 4) + (y >> 4)) % 2 ? 30 : -30) + r.normal() * 12;
        out[(y * w + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return out;
}

const raw = (data: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4) =>
  sharp(data, { raw: { width, height, channels } });

const grey = (data: Uint8Array, width: number, height: number) =>
  raw(data, width, height, 1).toColourspace("b-w");

/** A PNG written by hand: 16-bit samples (big-endian), colour type 0 (grey) or 2 (RGB). */
function png16(samples: Uint16Array, w: number, h: number, colourType: 0 | 2): Uint8Array {
  const n = colourType === 2 ? 3 : 1;
  const rows = new Uint8Array(h * (1 + w * n * 2));
  const dv = new DataView(rows.buffer);
  for (let y = 0; y < h; y++) {
    for (let i = 0; i < w * n; i++) {
      dv.setUint16(y * (1 + w * n * 2) + 1 + 2 * i, samples[y * w * n + i]);
    }
  }
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const v = new DataView(out.buffer);
    v.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  const iv = new DataView(ihdr.buffer);
  iv.setUint32(0, w);
  iv.setUint32(4, h);
  ihdr.set([16, colourType, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array(deflateSync(rows))),
    chunk("IEND", new Uint8Array(0)),
  ];
  return concatBytes(...parts);
}

Deno.test("preprocess: grey image gives three equal channels; bytes input works", async () => {
  const w = 300, h = 200;
  const bytes = new Uint8Array(await grey(pattern(w, h, 1), w, h).png().toBuffer());
  assert.equal((await decodeImage(bytes)).mode, "L");
  const x = await preprocessImage(bytes);
  assert.equal(x.length, PER);
  assertFinite(x, "grey");
  const px = toPixels(x), plane = SIZE * SIZE;
  for (let i = 0; i < plane; i++) {
    assert.ok(Math.abs(px[i] - Math.round(px[i])) < 1e-3, "values are k/255 before Normalize");
    assert.ok(Math.abs(px[i] - px[plane + i]) < 1e-3 && Math.abs(px[i] - px[2 * plane + i]) < 1e-3);
  }
  // And it equals the same grey image stored as RGB.
  const rgb = new Uint8Array(w * h * 3);
  pattern(w, h, 1).forEach((v, i) => rgb.fill(v, 3 * i, 3 * i + 3));
  const asRgb = await preprocessImage(new Uint8Array(await raw(rgb, w, h, 3).png().toBuffer()));
  assert.deepEqual(x, asRgb);
});

Deno.test("preprocess: palette PNG resizes with NEAREST (only palette colours come out)", async () => {
  const w = 90, h = 60; // upscaled ×3.7: bicubic would invent new colours
  const bytes = new Uint8Array(
    await raw(pattern(w, h, 3, 7), w, h, 3).png({ palette: true, colors: 8, dither: 0 })
      .toBuffer(),
  );
  const dec = await decodeImage(bytes);
  assert.equal(dec.mode, "P");
  const palette = new Set<number>();
  for (let i = 0; i < w * h; i++) {
    palette.add((dec.data[3 * i] << 16) | (dec.data[3 * i + 1] << 8) | dec.data[3 * i + 2]);
  }
  const px = toPixels(await preprocessImage(bytes)), plane = SIZE * SIZE;
  for (let i = 0; i < plane; i++) {
    const [r, g, b] = [px[i], px[plane + i], px[2 * plane + i]].map(Math.round);
    assert.ok(palette.has((r << 16) | (g << 8) | b), `pixel ${i} (${r},${g},${b}) not in palette`);
  }
});

Deno.test("preprocess: RGBA is resized premultiplied and its alpha dropped, not composited", async () => {
  const w = 300, h = 250;
  const flat = (a: number) => {
    const d = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) d.set([200, 100, 50, a], 4 * i);
    return d;
  };
  // Pillow: premultiply MULDIV255(200,128)=100 ... un-premultiply 255·100/128 -> 199 (floor).
  const half = toPixels(
    await preprocessImage(
      new Uint8Array(await raw(flat(128), w, h, 4).png().toBuffer()),
    ),
  );
  const plane = SIZE * SIZE;
  for (const i of [0, 777, plane - 1]) {
    assert.deepEqual([half[i], half[plane + i], half[2 * plane + i]].map(Math.round), [
      199,
      99,
      49,
    ]);
  }
  // Opaque RGBA equals the RGB image exactly.
  const rgba = pattern(w, h, 4, 3);
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    rgba[4 * i + 3] = 255;
    rgb.set(rgba.subarray(4 * i, 4 * i + 3), 3 * i);
  }
  const a = await preprocessImage(new Uint8Array(await raw(rgba, w, h, 4).png().toBuffer()));
  const b = await preprocessImage(new Uint8Array(await raw(rgb, w, h, 3).png().toBuffer()));
  assert.deepEqual(a, b);
  assertFinite(a, "rgba");
});

Deno.test("preprocess: 16-bit PNGs follow Pillow (grey I;16 clips to 255, RGB keeps the high byte)", async () => {
  const w = 280, h = 240;
  const grey8 = pattern(w, h, 1, 5);
  // Grey values below 256 stored in 16 bits: Pillow's I;16 -> RGB keeps them as they are.
  const small = png16(Uint16Array.from(grey8), w, h, 0);
  assert.equal((await decodeImage(small)).mode, "I;16");
  const x16 = await preprocessImage(small);
  assertFinite(x16, "I;16");
  const x8 = await preprocessImage(new Uint8Array(await grey(grey8, w, h).png().toBuffer()));
  const { mean, max } = diffStats(toPixels(x16), toPixels(x8));
  // Measured: mean 0.006, max 4 pixel units. Pillow's 16-bit path keeps the horizontal pass's
  // overshoot above 255 (the 8-bit path clips it) and resamples in float, not fixed point.
  assert.ok(mean <= 0.05 && max <= 8, `I;16 vs L: mean ${mean}, max ${max} pixel units`);
  // Values >= 256 clip to white, which is what upstream CLIP sees for 16-bit grey photos.
  const big = png16(Uint16Array.from(grey8, (v) => 1000 + 4 * v), w, h, 0);
  const white = toPixels(await preprocessImage(big));
  assert.ok(white.every((v) => Math.abs(v - 255) < 1e-3), "16-bit grey >= 256 -> 255");
  // 16-bit RGB: exactly the 8-bit image of the high bytes.
  const rgb8 = pattern(w, h, 3, 6);
  const rgb16 = Uint16Array.from(rgb8, (v, i) => (v << 8) | (i * 37 & 0xff));
  const a = await preprocessImage(png16(rgb16, w, h, 2));
  const b = await preprocessImage(new Uint8Array(await raw(rgb8, w, h, 3).png().toBuffer()));
  assert.deepEqual(a, b);
});

Deno.test("preprocess: JPEG, WebP, GIF and CMYK JPEG decode; EXIF orientation is not applied", async () => {
  const w = 320, h = 240;
  const rgb = pattern(w, h, 3, 9);
  const lossless = await preprocessImage(
    new Uint8Array(await raw(rgb, w, h, 3).png().toBuffer()),
  );
  // Bounds on the mean |diff| to the lossless PNG (normalised units), measured 0.086 (JPEG),
  // 0.080 (WebP), 0.156 (GIF, 256 colours) and 0.375 (CMYK: sharp encodes through an ICC
  // profile, Pillow decodes with its naive CMYK -> RGB formula, as we do).
  const cases: [string, Sharp, string, number][] = [
    ["jpeg", raw(rgb, w, h, 3).jpeg({ quality: 92 }), "RGB", 0.15],
    ["webp", raw(rgb, w, h, 3).webp({ quality: 92 }), "RGB", 0.15],
    ["gif", raw(rgb, w, h, 3).gif(), "P", 0.3],
    ["cmyk jpeg", raw(rgb, w, h, 3).toColourspace("cmyk").jpeg({ quality: 92 }), "CMYK", 0.6],
  ];
  for (const [name, pipeline, mode, bound] of cases) {
    const bytes = new Uint8Array(await pipeline.toBuffer());
    assert.equal((await decodeImage(bytes)).mode, mode, name);
    const x = await preprocessImage(bytes);
    assert.equal(x.length, PER, name);
    assertFinite(x, name);
    const { mean } = diffStats(x, lossless);
    console.log(`  ${name}: mean |diff| to the lossless PNG ${mean.toFixed(4)}`);
    assert.ok(mean <= bound, `${name}: mean |diff| to the PNG ${mean} > ${bound}`);
  }
  // Orientation 6 would rotate 320x240 into 240x320: Pillow's Image.open does not, nor do we.
  const oriented = new Uint8Array(
    await raw(rgb, w, h, 3).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
  );
  assert.equal((await sharp(oriented).metadata()).orientation, 6);
  const dec = await decodeImage(oriented);
  assert.deepEqual([dec.width, dec.height], [w, h]);
});

// ---- failures -----------------------------------------------------------------------------

Deno.test("preprocess: corrupt, truncated and missing files are errors naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "preprocess_test_" });
  try {
    const r = rng(11);
    const corrupt = `${dir}/corrupt.png`;
    await Deno.writeFile(corrupt, Uint8Array.from({ length: 4096 }, () => r.int(256)));
    const good = new Uint8Array(await raw(pattern(64, 48, 3), 64, 48, 3).png().toBuffer());
    const truncated = `${dir}/truncated.png`;
    await Deno.writeFile(truncated, good.subarray(0, good.length >> 1));
    for (const path of [corrupt, truncated, `${dir}/missing.jpg`]) {
      await assert.rejects(preprocessImage(path), (e: unknown) => {
        assert.ok(e instanceof ImageLoadError, String(e));
        assert.equal(e.path, path);
        assert.ok(e.message.includes(path), e.message);
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("preprocess: a batch with a corrupt file fails, or with skipErrors loads the rest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "preprocess_test_" });
  try {
    const a = `${dir}/a.png`, bad = `${dir}/bad.jpg`, c = `${dir}/c.webp`;
    await Deno.writeFile(a, await raw(pattern(260, 200, 3, 1), 260, 200, 3).png().toBuffer());
    await Deno.writeFile(bad, new TextEncoder().encode("not an image at all"));
    await Deno.writeFile(c, await raw(pattern(200, 260, 3, 2), 200, 260, 3).webp().toBuffer());
    const paths = [a, bad, c];

    await assert.rejects(preprocessImages(paths), (e: unknown) => {
      assert.ok(e instanceof ImageLoadError && e.message.includes(bad), String(e));
      return true;
    });

    const batch = await preprocessImages(paths, SIZE, { skipErrors: true });
    assert.deepEqual(batch.shape, [2, 3, SIZE, SIZE]);
    assert.deepEqual(batch.loaded, [a, c]);
    assert.equal(batch.errors.length, 1);
    assert.equal(batch.errors[0].path, bad);
    assert.ok(batch.errors[0].message.includes(bad), batch.errors[0].message);
    assert.equal(batch.pixels.length, 2 * PER);
    assert.deepEqual(batch.pixels.subarray(0, PER), await preprocessImage(a));
    assert.deepEqual(batch.pixels.subarray(PER), await preprocessImage(c));

    const small = await preprocessImages([c], 64);
    assert.deepEqual(small.shape, [1, 3, 64, 64]);
    assert.equal(small.pixels.length, 3 * 64 * 64);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- size limits (checked on the declared size, before decoding) ---------------------------

/** A copy of a PNG with its IHDR width and height replaced (and the chunk's CRC fixed). */
function withPngSize(png: Uint8Array, width: number, height: number): Uint8Array {
  const out = png.slice();
  const v = new DataView(out.buffer);
  v.setUint32(16, width);
  v.setUint32(20, height);
  v.setUint32(29, crc32(out.subarray(12, 29)));
  return out;
}

Deno.test("preprocess: images over the pixel limit are refused from their header, at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "preprocess_test_" });
  try {
    assert.equal(MAX_IMAGE_PIXELS, 50_000_000);
    const small = new Uint8Array(await raw(pattern(64, 48, 3), 64, 48, 3).png().toBuffer());
    // 776 KB in the report; the declared size is what counts: 16000×16000 = 256 megapixels.
    const huge = `${dir}/huge.png`;
    await Deno.writeFile(huge, withPngSize(small, 16000, 16000));
    // A real 1×100000 PNG (a few hundred bytes): 0.1 megapixels, but resized to 224 on its
    // short side it is 224×22,400,000 (5 gigapixels), which Pillow would allocate.
    const thin = `${dir}/thin.png`;
    await Deno.writeFile(
      thin,
      await grey(new Uint8Array(100000).fill(9), 1, 100000).png().toBuffer(),
    );
    const cases: [string, RegExp][] = [
      [huge, /16000×16000 .*50,000,000-pixel limit/],
      [thin, /1×100000 .*resized to 224×22400000 .*50,000,000-pixel limit/],
    ];
    for (const [path, expect] of cases) {
      const t0 = performance.now();
      await assert.rejects(preprocessImage(path), (e: unknown) => {
        assert.ok(e instanceof ImageLoadError, String(e));
        assert.equal(e.path, path);
        assert.match(e.message, expect);
        assert.match(e.message, /maxPixels/);
        return true;
      });
      const ms = performance.now() - t0;
      assert.ok(ms < 1000, `${path}: ${ms.toFixed(0)} ms to refuse`);
    }
    // decodeImage alone checks the decoded size only; the batch API passes the option on.
    await assert.rejects(decodeImage(huge), /50,000,000-pixel limit/);
    await assert.rejects(preprocessImages([huge]), /50,000,000-pixel limit/);
    // The limit can be lowered and raised.
    const ok = `${dir}/ok.png`;
    await Deno.writeFile(ok, small);
    await assert.rejects(preprocessImage(ok, 32, { maxPixels: 3000 }), /64×48 .*3,000-pixel limit/);
    const batch = await preprocessImages([ok, thin], 8, { maxPixels: 1000, skipErrors: true });
    assert.deepEqual(batch.loaded, []);
    assert.match(batch.errors[1].message, /thin\.png: .*1×100000 .*1,000-pixel limit/);
    assert.equal((await preprocessImage(ok, 32, { maxPixels: 64 * 48 })).length, 3 * 32 * 32);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
