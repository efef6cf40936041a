// A checkpoint's own pixel mean/std (HF preprocessor_config.json, open_clip's preprocess_cfg):
// read strictly, honoured on the host (preprocessImage's stats) and on the GPU (encodePixels),
// CLIP's where the checkpoint says nothing, and bit-for-bit unchanged then.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CLIP_MEAN,
  CLIP_PIXEL_STATS,
  CLIP_STD,
  describePixelStats,
  l2Normalize,
  loadClip,
  noGrad,
  type PixelStats,
  preprocessImage,
  preprocessImages,
  readTensors,
  Tensor,
  tidy,
} from "../mod.ts";
import { loadClipWeights } from "../src/clip/checkpoint.ts";
import { configFromOpenClip, openClipConfigJson } from "../src/clip/config_json.ts";
import {
  checkPixelStats,
  pixelStatsFromHfProcessor,
  pixelStatsFromOpenClip,
} from "../src/clip/pixel_stats.ts";
import { type DecodedImage, transformDecoded } from "../src/clip/preprocess.ts";
import { clipNormalize, encodePixels } from "../src/clip/pixels.ts";
import { toClipPixels } from "../src/attacks/pixels.ts";
import { CLIP_ARCHS } from "../src/clip/config.ts";
import { sharp } from "../src/io/sharp.ts";
import { assertAllClose, oracleDir, rng } from "./helpers.ts";

const tinyHf = `${oracleDir()}reference/tiny-a/hf/`;
const R = 32; // tiny-a's image size

/** ImageNet's statistics, as many timm/open_clip checkpoints declare them. */
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;

/** What transformers writes for CLIPImageProcessor, with other mean/std. */
function processorJson(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    crop_size: { height: R, width: R },
    do_center_crop: true,
    do_convert_rgb: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [...IMAGENET.mean],
    image_processor_type: "CLIPImageProcessor",
    image_std: [...IMAGENET.std],
    resample: 3,
    rescale_factor: 0.00392156862745098,
    size: { shortest_edge: R },
    ...over,
  };
}

/** tiny-a's HF folder copied to a temp dir, with `files` written beside it. */
async function withCheckpoint(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pixel_stats_test_" });
  try {
    for (const f of ["config.json", "model.safetensors"]) {
      await Deno.copyFile(join(tinyHf, f), join(dir, f));
    }
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(dir, name), text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A seeded RGB image, decoded as sharp would give it (not square: the crop matters). */
function image(w: number, h: number, seed: number): DecodedImage {
  const r = rng(seed), data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = r.int(256);
  return { mode: "RGB", width: w, height: h, channels: 3, data };
}

/** (x − mean) / std per CHW element, each step in float32 as torch rounds it. */
function normalizeByHand(x01: Float32Array, s: PixelStats, size: number): Float32Array {
  const plane = size * size, f = Math.fround;
  return x01.map((v, i) => {
    const c = Math.floor(i / plane) % 3;
    return f(f(v - f(s.mean[c])) / f(s.std[c]));
  });
}

const oneLine = (re: RegExp) => (e: unknown) => {
  const msg = (e as Error).message;
  assert.doesNotMatch(msg, /\n/, `one line: ${msg}`);
  assert.match(msg, re);
  return true;
};

// ---- reading ---------------------------------------------------------------------------------

Deno.test("pixel stats: HF preprocessor_config.json is read strictly, naming file and field", () => {
  const src = "/m/preprocessor_config.json";
  const s = pixelStatsFromHfProcessor(processorJson(), src, R);
  assert.deepEqual([s.mean, s.std, s.size, s.source], [IMAGENET.mean, IMAGENET.std, R, src]);
  // CLIPImageProcessor's defaults are CLIP's; one number stands for every channel.
  const d = pixelStatsFromHfProcessor({ image_mean: 0.5, image_std: [0.5, 0.5, 0.5] }, src, R);
  assert.deepEqual([d.mean, d.std, d.size], [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], undefined]);
  const old = pixelStatsFromHfProcessor({ crop_size: R, size: R }, src, R); // CLIPFeatureExtractor
  assert.deepEqual([old.mean, old.std, old.size], [[...CLIP_MEAN], [...CLIP_STD], R]);
  const off = pixelStatsFromHfProcessor({ do_normalize: false }, src, R);
  assert.deepEqual([off.mean, off.std], [[0, 0, 0], [1, 1, 1]]);
  assert.match(off.source, /do_normalize false/);

  const bad: [Record<string, unknown>, RegExp][] = [
    [{ image_mean: [0.5, 0.5] }, /image_mean is \[0\.5,0\.5\]; expected 3 finite numbers/],
    [{ image_mean: [0.5, 0.5, 0.5, 0.5] }, /image_mean is .*expected 3 finite numbers/],
    [{ image_mean: ["0.5", 0.5, 0.5] }, /image_mean is .*expected 3 finite numbers/],
    [
      { image_std: [0.5, 1e999, 0.5] },
      /image_std is \[0\.5,Infinity,0\.5\]; expected 3 finite numbers > 0/,
    ],
    [{ image_std: [0.5, 0, 0.5] }, /image_std is .*expected 3 finite numbers > 0/],
    [{ image_std: [0.5, -0.2, 0.5] }, /image_std is .*> 0/],
    [{ image_std: 1e-50 }, /image_std is .*> 0/], // 0 in float32
    [
      { crop_size: { height: 224, width: 224 } },
      /crop_size 224 differs from the model's image size 32/,
    ],
    [{ crop_size: null, size: 64 }, /size 64 differs from the model's image size 32/],
    [{ crop_size: { height: 32, width: 48 } }, /crop_size is .*\(square\)/],
    [{ do_normalize: "yes" }, /do_normalize is "yes"; expected true or false/],
    [{ do_rescale: false }, /do_rescale is false/],
    [{ rescale_factor: 1 }, /rescale_factor is 1; expected 1\/255/],
  ];
  for (const [json, re] of bad) {
    assert.throws(() => pixelStatsFromHfProcessor(processorJson(json), src, R), (e: unknown) => {
      assert.equal((e as Error).name, "InputFileError");
      assert.ok((e as Error).message.startsWith(`${src}: `), (e as Error).message);
      return oneLine(re)(e);
    }, JSON.stringify(json));
  }
  assert.throws(
    () => pixelStatsFromHfProcessor([], src, R),
    oneLine(/expected an image processor/),
  );

  // What Antidote does not follow is said, not refused.
  const warnings: string[] = [];
  pixelStatsFromHfProcessor(
    processorJson({ size: { shortest_edge: 36 }, resample: 2 }),
    src,
    R,
    (l) => warnings.push(l),
  );
  assert.equal(warnings.length, 2, warnings.join("\n"));
  assert.match(
    warnings[0],
    /size 36: this processor resizes to 36 .*Antidote resizes the shorter side to 32/,
  );
  assert.match(warnings[1], /resample 2 is not bicubic/);
});

Deno.test("pixel stats: open_clip's preprocess_cfg, and the config writer's round trip", () => {
  const src = "/m/open_clip_config.json";
  const c = CLIP_ARCHS["ViT-B/32"];
  assert.equal(pixelStatsFromOpenClip({ model_cfg: {} }, src, 224), undefined);
  const json = openClipConfigJson(c, { ...IMAGENET, source: "x" });
  assert.deepEqual(configFromOpenClip(json, src), c, "the model config is unchanged");
  const s = pixelStatsFromOpenClip(json, src, 224)!;
  assert.deepEqual([s.mean, s.std, s.source], [
    IMAGENET.mean,
    IMAGENET.std,
    `${src} preprocess_cfg`,
  ]);
  const dflt = pixelStatsFromOpenClip(openClipConfigJson(c), src, 224)!;
  assert.deepEqual([dflt.mean, dflt.std], [[...CLIP_MEAN], [...CLIP_STD]]);
  const sized = pixelStatsFromOpenClip({ preprocess_cfg: { size: [224, 224] } }, src, 224)!;
  assert.equal(sized.size, 224);
  for (
    const [cfg, re] of [
      [{ mean: [1, 2] }, /preprocess_cfg\.mean is \[1,2\]; expected 3 finite numbers/],
      [{ std: [1, 2, 0] }, /preprocess_cfg\.std is \[1,2,0\]; expected 3 finite numbers > 0/],
      [{ size: 336 }, /preprocess_cfg\.size 336 differs from the model's image size 224/],
      [{ size: [224, 200] }, /preprocess_cfg\.size is \[224,200\]; expected/],
    ] as const
  ) {
    assert.throws(
      () => pixelStatsFromOpenClip({ preprocess_cfg: cfg }, src, 224),
      oneLine(new RegExp(`^${src}: ${re.source}`)),
    );
  }
  assert.throws(
    () => pixelStatsFromOpenClip({ preprocess_cfg: 3 }, src, 224),
    /expected an object/,
  );
  const warnings: string[] = [];
  pixelStatsFromOpenClip(
    { preprocess_cfg: { interpolation: "bilinear", resize_mode: "squash" } },
    src,
    224,
    (l) => warnings.push(l),
  );
  assert.equal(warnings.length, 2);
  assert.match(warnings[0], /interpolation "bilinear" is not "bicubic"/);
});

Deno.test("pixel stats: caller stats are checked; the line says which were used", () => {
  assert.throws(() => checkPixelStats({ mean: [0, 0, 0], std: [1, 1] }, "options.pixelStats"), {
    message: /^options\.pixelStats: std is \[1,1\]; expected 3 finite numbers > 0/,
  });
  assert.equal(describePixelStats(CLIP_PIXEL_STATS), "preprocessing: mean/std (CLIP default)");
  assert.equal(
    describePixelStats({ ...IMAGENET, source: "/m/preprocessor_config.json" }),
    "preprocessing: mean/std from /m/preprocessor_config.json " +
      "(mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225])",
  );
});

Deno.test("pixel stats: the loader takes the checkpoint's own, else CLIP's, else refuses", async () => {
  // None beside the weights: CLIP's, the very object (the default paths stay as they were).
  assert.equal((await loadClipWeights(tinyHf)).pixelStats, CLIP_PIXEL_STATS);
  await withCheckpoint(
    { "preprocessor_config.json": JSON.stringify(processorJson()) },
    async (d) => {
      const w = await loadClipWeights(d);
      assert.deepEqual([w.pixelStats.mean, w.pixelStats.std], [IMAGENET.mean, IMAGENET.std]);
      assert.equal(w.pixelStats.source, join(d, "preprocessor_config.json"));
      assert.deepEqual(w.warnings, []);
      // The caller's override wins, and the file is not needed for it.
      const o = await loadClipWeights(d, {
        pixelStats: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
      });
      assert.deepEqual([o.pixelStats.mean, o.pixelStats.source], [
        [0.5, 0.5, 0.5],
        "options.pixelStats",
      ]);
    },
  );
  // open_clip's preprocess_cfg beside HF weights counts too; agreeing with the processor is fine.
  const oc = JSON.stringify({ preprocess_cfg: { ...IMAGENET } });
  await withCheckpoint({ "open_clip_config.json": oc }, async (d) => {
    const w = await loadClipWeights(d);
    assert.equal(w.pixelStats.source, `${join(d, "open_clip_config.json")} preprocess_cfg`);
  });
  await withCheckpoint(
    { "open_clip_config.json": oc, "preprocessor_config.json": JSON.stringify(processorJson()) },
    async (d) => {
      assert.equal(
        (await loadClipWeights(d)).pixelStats.source,
        join(d, "preprocessor_config.json"),
      );
    },
  );
  // Refused in one line naming the file (and field).
  const refused: [Record<string, string>, RegExp][] = [
    [
      { "preprocessor_config.json": JSON.stringify(processorJson({ image_std: [0.2, 0.2] })) },
      /preprocessor_config\.json: image_std is \[0\.2,0\.2\]; expected 3 finite/,
    ],
    [{
      "preprocessor_config.json": '{"image_mean": [0.5, 0.5, 0.5], "image_mean": [0.4, 0.4, 0.4]}',
    }, /preprocessor_config\.json: not valid JSON \(key "image_mean" twice/],
    [{ "preprocessor_config.json": "{image_mean" }, /preprocessor_config\.json: not valid JSON/],
    [
      { "preprocessor_config.json": JSON.stringify(processorJson({ crop_size: 224 })) },
      /preprocessor_config\.json: crop_size 224 differs from the model's image size 32/,
    ],
    [
      {
        "preprocessor_config.json": JSON.stringify(processorJson()),
        "open_clip_config.json": JSON.stringify({ preprocess_cfg: { mean: 0.5, std: 0.5 } }),
      },
      /preprocessor_config\.json: mean \[0\.485, .*differ from .*open_clip_config\.json preprocess_cfg's mean \[0\.5/,
    ],
  ];
  for (const [files, re] of refused) {
    await withCheckpoint(files, async (d) => {
      await assert.rejects(loadClipWeights(d), oneLine(re), Object.keys(files).join(", "));
    });
  }
});

// ---- honoured ------------------------------------------------------------------------------

Deno.test("pixel stats: host preprocessing normalises with the stats given; default unchanged", async () => {
  const img = image(45, 37, 3);
  const x01 = transformDecoded(img, R, false);
  const stats: PixelStats = { ...IMAGENET, source: "test" };
  // Default: the very same bits as before (CLIP's LUT), whether stats are omitted or CLIP's.
  const dflt = transformDecoded(img, R);
  assert.deepEqual(transformDecoded(img, R, true, CLIP_PIXEL_STATS), dflt);
  assert.deepEqual(dflt, normalizeByHand(x01, CLIP_PIXEL_STATS, R));
  // Other stats: bit for bit (x − mean) / std in float32, and not CLIP's.
  const other = transformDecoded(img, R, true, stats);
  assert.deepEqual(other, normalizeByHand(x01, stats, R));
  assert.notDeepEqual(other, dflt);
  assert.deepEqual(transformDecoded(img, R, true, { ...stats }), other, "cached by value");
  assertAllClose(toClipPixels(x01, [1, 3, R, R], stats), other, { atol: 1e-6 });
  // From a file, one image or a batch.
  const dir = await Deno.makeTempDir({ prefix: "pixel_stats_test_" });
  try {
    const path = join(dir, "a.png");
    await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).png()
      .toFile(path);
    assert.deepEqual(await preprocessImage(path, R, { stats }), other);
    assert.deepEqual(await preprocessImage(path, R), dflt);
    const batch = await preprocessImages([path, path], R, { stats });
    assert.deepEqual(batch.pixels.subarray(3 * R * R), other);
    await assert.rejects(
      preprocessImages([path], R, { stats: { ...stats, std: [1, 1, -1] } }),
      /std is \[1,1,-1\]; expected 3 finite numbers > 0/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pixel stats: a checkpoint's own stats reach the GPU paths (encodePixels)", async () => {
  const warnings: string[] = [];
  const dflt = await loadClip(tinyHf, { warn: (l) => warnings.push(l) });
  assert.equal(dflt.pixelStats, CLIP_PIXEL_STATS);
  await withCheckpoint(
    { "preprocessor_config.json": JSON.stringify(processorJson()) },
    async (d) => {
      const own = await loadClip(d, { warn: (l) => warnings.push(l) });
      assert.deepEqual([own.pixelStats.mean, own.pixelStats.std], [IMAGENET.mean, IMAGENET.std]);
      assert.deepEqual(warnings, []);
      const imgs = [image(40, 32, 5), image(32, 50, 6)];
      const x01 = new Float32Array(2 * 3 * R * R), host = new Float32Array(x01.length);
      imgs.forEach((im, i) => {
        x01.set(transformDecoded(im, R, false), i * 3 * R * R);
        host.set(transformDecoded(im, R, true, own.pixelStats), i * 3 * R * R);
      });
      const shape = [2, 3, R, R];
      const out = noGrad(() =>
        tidy(() => {
          const x = Tensor.from(x01, shape);
          return {
            gpuNorm: clipNormalize(x, own.pixelStats),
            own: encodePixels(own, x),
            ref: l2Normalize(own.encodeImage(Tensor.from(host, shape))),
            clip: encodePixels(dflt, x),
          };
        })
      );
      const [gpuNorm, ownF, refF, clipF] = await readTensors([
        out.gpuNorm,
        out.own,
        out.ref,
        out.clip,
      ]);
      Object.values(out).forEach((t) => t.dispose());
      assertAllClose(gpuNorm, host, { atol: 1e-5, name: "GPU normalisation vs host" });
      assertAllClose(ownF, refF, { atol: 1e-4, name: "own stats vs host-normalised reference" });
      const diff = ownF.reduce((m, v, i) => Math.max(m, Math.abs(v - clipF[i])), 0);
      assert.ok(diff > 1e-3, `features differ from CLIP's normalisation (max |Δ| ${diff})`);
      own.dispose();
    },
  );
  dflt.dispose();
});
