// CLIP checkpoint loading: the tiny-a reference model in its three layouts (OpenAI, HF, HF
// bf16) gives the same canonical tensors; sharded, `module.`-prefixed and f16 checkpoints load;
// problems are reported in one error; unused tensors become warnings; random checkpoints from
// scripts/make-random-clip.ts load back to their architecture.

import assert from "node:assert/strict";
import { join } from "node:path";
import { type ClipWeights, loadClipWeights } from "../src/clip/checkpoint.ts";
import { CLIP_ARCHS, type ClipConfig } from "../src/clip/config.ts";
import { configFromHf, configFromOpenClip } from "../src/clip/config_json.ts";
import {
  float32ToF16Bits,
  readSafetensors,
  type TensorSpec,
  writeSafetensors,
} from "../src/io/safetensors.ts";
import { makeRandomClip } from "../src/clip/random.ts";
import { oracleDir } from "./helpers.ts";

const oracle = oracleDir();
const tinyA = `${oracle}reference/tiny-a/`;

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "checkpoint_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Same names, shapes and bit-identical values. */
function assertSameTensors(a: ClipWeights, b: ClipWeights, what: string) {
  assert.deepEqual([...a.tensors.keys()].sort(), [...b.tensors.keys()].sort(), `${what}: names`);
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name)!;
    assert.deepEqual(u.shape, t.shape, `${what}: ${name} shape`);
    const i = t.data.findIndex((v, k) => !Object.is(v, u.data[k]));
    assert.equal(i, -1, `${what}: ${name}[${i}] ${t.data[i]} vs ${u.data[i]}`);
    assert.equal(u.data.length, t.data.length, `${what}: ${name} length`);
  }
}

/** Copies a checkpoint file with tensors changed (null removes one), plus its JSON sidecars. */
async function rewrite(
  fromDir: string,
  toDir: string,
  edit: (specs: Record<string, TensorSpec>) => Record<string, TensorSpec>,
) {
  await Deno.mkdir(toDir, { recursive: true });
  const file = await readSafetensors(join(fromDir, "model.safetensors"));
  const specs: Record<string, TensorSpec> = {};
  for (const [n, t] of file.tensors) specs[n] = { dtype: t.dtype, shape: t.shape, data: t.bytes };
  await writeSafetensors(join(toDir, "model.safetensors"), edit(specs), file.metadata ?? undefined);
  for (const side of ["config.json", "open_clip_config.json"]) {
    try {
      await Deno.copyFile(join(fromDir, side), join(toDir, side));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}

// ---- the tiny-a reference model ------------------------------------------------------------

/** case.json's "config" block in ClipConfig terms. */
async function caseConfig(): Promise<Partial<ClipConfig>> {
  const c = JSON.parse(await Deno.readTextFile(`${tinyA}case.json`)).config;
  return {
    embedDim: c.embed_dim,
    imageResolution: c.image_resolution,
    visionLayers: c.vision_layers,
    visionWidth: c.vision_width,
    visionPatchSize: c.vision_patch_size,
    contextLength: c.context_length,
    vocabSize: c.vocab_size,
    transformerWidth: c.transformer_width,
    transformerHeads: c.transformer_heads,
    transformerLayers: c.transformer_layers,
  };
}

const TINY_A_EXTRA = {
  visionKind: "vit",
  visionHeads: 2,
  activation: "quick_gelu",
  layerNormEps: 1e-5,
};

Deno.test({
  name: "tiny-a: openai, hf and hf-bf16 load to the same canonical tensors and config",
  fn: async () => {
    const want = { ...(await caseConfig()), ...TINY_A_EXTRA };
    // An OpenAI state dict does not record head counts; tiny-a's text tower has 4, not 64/64.
    const openai = await loadClipWeights(`${tinyA}openai`, { config: { transformerHeads: 4 } });
    const hf = await loadClipWeights(`${tinyA}hf`);
    const bf16 = await loadClipWeights(`${tinyA}hf-bf16`);
    for (const [w, format] of [[openai, "openai"], [hf, "hf"], [bf16, "hf"]] as const) {
      assert.equal(w.format, format);
      assert.deepEqual(w.config, want, `${format} config`);
      assert.deepEqual(w.warnings, []);
    }
    assert.equal(openai.tensors.size, 62); // 8 + 12 per block + 8, as upstream
    assert.deepEqual(openai.tensors.get("visual.proj")!.shape, [128, 32]);
    assert.deepEqual(openai.tensors.get("text_projection")!.shape, [64, 32]);
    assert.deepEqual(openai.tensors.get("logit_scale")!.shape, []);
    assertSameTensors(openai, hf, "openai vs hf");
    for (const [name, t] of hf.tensors) {
      const b = bf16.tensors.get(name)!;
      assert.deepEqual(b.shape, t.shape, name);
      t.data.forEach((v, i) => {
        const err = Math.abs(b.data[i] - v);
        assert.ok(err <= 2 ** -8 * Math.abs(v), `${name}[${i}]: bf16 ${b.data[i]} vs f32 ${v}`);
      });
    }
  },
});

Deno.test({
  name: "tiny-a openai: without options the config is build_model's (text heads = width / 64)",
  fn: async () => {
    const w = await loadClipWeights(`${tinyA}openai/model.safetensors`);
    assert.deepEqual(w.config, { ...(await caseConfig()), ...TINY_A_EXTRA, transformerHeads: 1 });
  },
});

Deno.test({
  name: "tiny-a hf split into two shards with an index loads identically",
  fn: async () => {
    await withTempDir(async (dir) => {
      const file = await readSafetensors(`${tinyA}hf/model.safetensors`);
      const names = [...file.tensors.keys()];
      const shards: Record<string, TensorSpec>[] = [{}, {}];
      const weightMap: Record<string, string> = {};
      names.forEach((n, i) => {
        const k = i < names.length / 2 ? 0 : 1;
        const t = file.tensors.get(n)!;
        shards[k][n] = { dtype: t.dtype, shape: t.shape, data: t.bytes };
        weightMap[n] = `model-0000${k + 1}-of-00002.safetensors`;
      });
      for (const k of [0, 1]) {
        await writeSafetensors(join(dir, `model-0000${k + 1}-of-00002.safetensors`), shards[k], {
          format: "pt",
        });
      }
      await Deno.writeTextFile(
        join(dir, "model.safetensors.index.json"),
        JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }),
      );
      await Deno.copyFile(`${tinyA}hf/config.json`, join(dir, "config.json"));
      const sharded = await loadClipWeights(dir);
      assert.equal(sharded.files.length, 2);
      assertSameTensors(sharded, await loadClipWeights(`${tinyA}hf`), "sharded vs single");

      // An index pointing at a shard that lacks the tensor is an error naming both.
      const first = names[0];
      weightMap[first] = "model-00002-of-00002.safetensors";
      await Deno.writeTextFile(
        join(dir, "model.safetensors.index.json"),
        JSON.stringify({ weight_map: weightMap }),
      );
      await assert.rejects(
        loadClipWeights(dir),
        new RegExp(`model-00002-of-00002\\.safetensors: lacks "${first}"`),
      );
    });
  },
});

Deno.test({
  name: "tiny-rn: a ResNet image tower loads (config inferred as build_model does)",
  fn: async () => {
    const w = await loadClipWeights(`${oracle}reference/tiny-rn/openai`);
    assert.deepEqual(w.config, { ...CLIP_ARCHS["tiny-rn"], transformerHeads: 1 });
    assert.deepEqual(w.tensors.get("visual.layer4.0.downsample.1.running_var")!.shape, [512]);
    assert.deepEqual(w.warnings, []);
  },
});

// ---- random checkpoints (no fixtures/oracle needed) ----------------------------------------------

Deno.test("make-random-clip tiny: hf and openai formats load to the same model", async () => {
  await withTempDir(async (dir) => {
    const made = await makeRandomClip({
      arch: "tiny",
      format: "hf",
      out: join(dir, "hf"),
      seed: 7,
    });
    await makeRandomClip({ arch: "tiny", format: "openai", out: join(dir, "oa"), seed: 7 });
    assert.ok(made.bytes > 2e6 && made.params === 595_201, `${made.bytes} bytes, ${made.params}`);
    const hf = await loadClipWeights(join(dir, "hf"));
    const oa = await loadClipWeights(join(dir, "oa"));
    assert.deepEqual(hf.config, CLIP_ARCHS.tiny);
    assert.deepEqual(oa.config, CLIP_ARCHS.tiny, "open_clip_config.json carries the text heads");
    assert.deepEqual([hf.format, oa.format, hf.warnings, oa.warnings], ["hf", "openai", [], []]);
    assertSameTensors(hf, oa, "hf vs openai");
    const ln = oa.tensors.get("visual.ln_pre.weight")!.data;
    assert.ok(ln.every((v) => v === 1), "layer norms start at 1");
    assert.equal(oa.tensors.get("logit_scale")!.data[0], Math.fround(Math.log(1 / 0.07)));
    const q = oa.tensors.get("transformer.resblocks.1.attn.in_proj_weight")!.data;
    const std = Math.sqrt(q.reduce((s, v) => s + v * v, 0) / q.length);
    assert.ok(Math.abs(std - 64 ** -0.5) < 0.01, `in_proj std ${std}`);

    // Another seed gives other weights; f16 gives these weights rounded to half precision.
    const other = await makeRandomClip({
      arch: "tiny",
      format: "openai",
      out: join(dir, "s8"),
      seed: 8,
    });
    const o8 = await loadClipWeights(other.path);
    assert.notDeepEqual(o8.tensors.get("visual.proj")!.data, oa.tensors.get("visual.proj")!.data);
    await makeRandomClip({
      arch: "tiny",
      format: "hf",
      out: join(dir, "h16"),
      seed: 7,
      dtype: "f16",
    });
    const h16 = await loadClipWeights(join(dir, "h16"));
    assert.deepEqual(h16.config, CLIP_ARCHS.tiny);
    const raw = await readSafetensors(join(dir, "h16", "model.safetensors"));
    assert.ok([...raw.tensors.values()].every((t) => t.dtype === "F16"));
    for (const [name, t] of oa.tensors) {
      const want = float32ToF16Bits(t.data);
      const got = float32ToF16Bits(h16.tensors.get(name)!.data);
      assert.equal(want.findIndex((b, i) => b !== got[i]), -1, `${name}: f16 = rounded f32`);
    }
  });
});

Deno.test("make-random-clip CLI writes a checkpoint and rejects a bad --arch", async () => {
  await withTempDir(async (dir) => {
    const script = new URL("../scripts/make-random-clip.ts", import.meta.url).pathname;
    const run = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-check", script, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const ok = await run("--arch", "tiny", "--format", "openai", "--out", dir, "--seed", "3");
    const out = new TextDecoder().decode(ok.stdout);
    assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
    assert.match(
      out,
      /model\.safetensors: 2\.4 MB, 595,201 parameters \(tiny, openai, f32, seed 3\)/,
    );
    assert.deepEqual((await loadClipWeights(dir)).config, CLIP_ARCHS.tiny);
    const bad = await run("--arch", "ViT-Z/9", "--format", "hf", "--out", dir);
    assert.equal(bad.code, 1);
    assert.match(new TextDecoder().decode(bad.stderr), /--arch ViT-Z\/9: unknown; expected one of/);
  });
});

const BROKEN = {
  openai: {
    gone: "visual.transformer.resblocks.1.mlp.c_fc.bias",
    goneShape: "[512]",
    bent: "transformer.resblocks.0.attn.out_proj.weight",
    want: [64, 64],
    got: [64, 32],
  },
  hf: {
    gone: "vision_model.encoder.layers.1.self_attn.k_proj.bias",
    goneShape: "[128]",
    bent: "text_projection.weight",
    want: [32, 64],
    got: [64, 32],
  },
};

for (const format of ["openai", "hf"] as const) {
  Deno.test(`${format}: a removed and a mis-shaped tensor are reported in one error`, async () => {
    await withTempDir(async (dir) => {
      const b = BROKEN[format];
      await makeRandomClip({ arch: "tiny", format, out: join(dir, "good") });
      await rewrite(join(dir, "good"), join(dir, "bad"), (specs) => {
        delete specs[b.gone];
        specs[b.bent] = { dtype: "F32", shape: b.got, data: new Float32Array(64 * 32) };
        return specs;
      });
      await assert.rejects(loadClipWeights(join(dir, "bad")), (e: Error) => {
        const m = e.message;
        assert.ok(m.startsWith(`${join(dir, "bad", "model.safetensors")}: ${format} CLIP`), m);
        assert.match(m, /; 2 problems:\n/);
        assert.ok(m.includes(`missing ${b.gone} ${b.goneShape}`), m);
        assert.ok(
          m.includes(`mis-shaped ${b.bent}: expected [${b.want.join(", ")}], got [64, 32]`),
          m,
        );
        return true;
      });
    });
  });
}

Deno.test("unused tensors are warnings; HF position_ids are ignored silently", async () => {
  await withTempDir(async (dir) => {
    await makeRandomClip({ arch: "tiny", format: "hf", out: join(dir, "good") });
    await rewrite(join(dir, "good"), join(dir, "extra"), (specs) => ({
      ...specs,
      "vision_model.embeddings.position_ids": {
        dtype: "I64",
        shape: [1, 17],
        data: BigInt64Array.from({ length: 17 }, (_, i) => BigInt(i)),
      },
      "text_model.embeddings.position_ids": {
        dtype: "I64",
        shape: [1, 16],
        data: new BigInt64Array(16),
      },
      "logit_bias": { dtype: "F32", shape: [], data: Float32Array.of(-10) },
    }));
    const w = await loadClipWeights(join(dir, "extra"));
    assert.deepEqual(w.warnings, [
      `${join(dir, "extra", "model.safetensors")}: unexpected tensor "logit_bias" [] ignored`,
    ]);
    assert.ok(!w.tensors.has("logit_bias"));
    assertSameTensors(w, await loadClipWeights(join(dir, "good")), "with extras vs without");
  });
});

Deno.test("open_clip: a module. prefix is stripped; the file path may be given", async () => {
  await withTempDir(async (dir) => {
    await makeRandomClip({ arch: "tiny", format: "openai", out: join(dir, "good") });
    await rewrite(
      join(dir, "good"),
      join(dir, "ddp"),
      (specs) => Object.fromEntries(Object.entries(specs).map(([n, t]) => [`module.${n}`, t])),
    );
    const w = await loadClipWeights(join(dir, "ddp", "model.safetensors"));
    assert.deepEqual(w.config, CLIP_ARCHS.tiny);
    assertSameTensors(w, await loadClipWeights(join(dir, "good")), "module. vs plain");
  });
});

Deno.test("directory and config errors say what was expected", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(loadClipWeights(join(dir, "nope")), /nope: cannot open .*expected a CLIP/);
    await Deno.writeTextFile(join(dir, "pytorch_model.bin"), "");
    await assert.rejects(
      loadClipWeights(dir),
      /no \.safetensors weights \(found: pytorch_model\.bin\); expected model\.safetensors/,
    );
    await makeRandomClip({ arch: "tiny", format: "hf", out: join(dir, "hf") });
    await Deno.remove(join(dir, "hf", "config.json"));
    await assert.rejects(loadClipWeights(join(dir, "hf")), /need .*config\.json beside them/);
    await Deno.copyFile(join(dir, "hf", "model.safetensors"), join(dir, "a.safetensors"));
    await Deno.copyFile(join(dir, "hf", "model.safetensors"), join(dir, "b.safetensors"));
    await assert.rejects(
      loadClipWeights(dir),
      /2 \.safetensors files \(a\.safetensors, b\.safetensors\)/,
    );
    await writeSafetensors(join(dir, "other.safetensors"), {
      "encoder.weight": { dtype: "F32", shape: [2], data: new Float32Array(2) },
    });
    await assert.rejects(
      loadClipWeights(join(dir, "other.safetensors")),
      /other\.safetensors: has no CLIP tensors \(first: encoder\.weight\)/,
    );
  });
});

Deno.test("configFromHf: activations, defaults and refusals", () => {
  const hf = (text: object, vision: object) => ({
    model_type: "clip",
    text_config: text,
    vision_config: vision,
  });
  // transformers' defaults are openai/clip-vit-base-patch32.
  assert.deepEqual(configFromHf(hf({}, {}), "c.json"), CLIP_ARCHS["ViT-B/32"]);
  const gelu = configFromHf(hf({ hidden_act: "gelu" }, { hidden_act: "gelu" }), "c.json");
  assert.equal(gelu.activation, "gelu");
  assert.throws(
    () => configFromHf(hf({ hidden_act: "gelu" }, {}), "c.json"),
    /c\.json: text_config\.hidden_act "gelu" differs from vision_config\.hidden_act "quick_gelu"/,
  );
  assert.throws(
    () => configFromHf(hf({}, { hidden_act: "gelu_new" }), "c.json"),
    /c\.json: vision_config\.hidden_act "gelu_new" is not supported/,
  );
  assert.throws(
    () => configFromHf({ model_type: "siglip" }, "c.json"),
    /model_type "siglip" is not CLIP/,
  );
  assert.throws(
    () => configFromHf(hf({ hidden_size: 64, num_attention_heads: 5 }, {}), "c.json"),
    /invalid CLIP config: transformerWidth 64 is not divisible by transformerHeads 5/,
  );
  assert.throws(
    () => configFromHf(hf({}, { intermediate_size: 100 }), "c.json"),
    /vision_config\.intermediate_size 100; expected 4 × hidden_size = 3072/,
  );
});

Deno.test("configFromOpenClip: model_cfg or bare; GELU unless quick_gelu", () => {
  const cfg = {
    embed_dim: 768,
    vision_cfg: { image_size: 224, layers: 24, width: 1024, patch_size: 14 },
    text_cfg: { context_length: 77, vocab_size: 49408, width: 768, heads: 12, layers: 12 },
  };
  assert.deepEqual(
    configFromOpenClip({ model_cfg: { ...cfg, quick_gelu: true } }, "o.json"),
    CLIP_ARCHS["ViT-L/14"],
  );
  assert.equal(configFromOpenClip(cfg, "o.json").activation, "gelu");
  const rn = configFromOpenClip({ ...cfg, vision_cfg: { layers: [3, 4, 6, 3], width: 64 } }, "o");
  assert.deepEqual([rn.visionKind, rn.visionResLayers, rn.visionHeads], [
    "resnet",
    [3, 4, 6, 3],
    32,
  ]);
});

// ---- hostile checkpoints (bounded work, bounded messages) ----------------------------------

Deno.test({
  name: "tiny-a hf with its header length lowered into the padding is refused, not loaded shifted",
  fn: async () => {
    await withTempDir(async (dir) => {
      const bytes = await Deno.readFile(`${tinyA}hf/model.safetensors`);
      const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
      const n = Number(view.getBigUint64(0, true));
      const pad = new TextDecoder().decode(bytes.subarray(8, 8 + n)).match(/ *$/)![0].length;
      assert.equal(pad, 7, "tiny-a's header ends in 7 pad spaces");
      view.setBigUint64(0, BigInt(n - pad), true); // 8680 → 8673: valid JSON, data shifted by 7
      const path = join(dir, "model.safetensors");
      await Deno.writeFile(path, bytes);
      await Deno.copyFile(`${tinyA}hf/config.json`, join(dir, "config.json"));
      await assert.rejects(loadClipWeights(dir), (e: Error) => {
        assert.ok(e.message.startsWith(`${path}: `), e.message);
        assert.match(e.message, /7 bytes after the last tensor/);
        return true;
      });
    });
  },
});

/** tiny-a's hf checkpoint with config.json edited; the weights are a link to the fixture. */
async function withHfConfig(
  edit: (c: Record<string, Record<string, unknown>>) => void,
  fn: (dir: string) => Promise<void>,
) {
  await withTempDir(async (dir) => {
    const config = JSON.parse(await Deno.readTextFile(`${tinyA}hf/config.json`));
    edit(config);
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(config));
    await Deno.symlink(
      await Deno.realPath(`${tinyA}hf/model.safetensors`),
      join(dir, "model.safetensors"),
    );
    await fn(dir);
  });
}

/** Rejects within `ms` with a message of at most `chars` characters matching `expect`. */
async function rejectsBounded(p: () => Promise<unknown>, expect: RegExp, ms = 3000, chars = 4000) {
  const t0 = performance.now();
  await assert.rejects(p(), (e: Error) => {
    assert.ok(e.message.length <= chars, `${e.message.length} chars: ${e.message.slice(0, 300)}`);
    assert.match(e.message, expect);
    return true;
  });
  const took = performance.now() - t0;
  assert.ok(took < ms, `took ${took.toFixed(0)} ms`);
}

for (const layers of [1000, 100_000, 9007199254740991]) {
  Deno.test({
    name: `config.json with vision num_hidden_layers ${layers}: a short error, at once`,
    fn: async () => {
      await withHfConfig((c) => (c.vision_config.num_hidden_layers = layers), async (dir) => {
        await rejectsBounded(
          () => loadClipWeights(dir),
          new RegExp(
            `config\\.json: vision_config\\.num_hidden_layers ${layers} .*2 layers ` +
              `\\(vision_model\\.encoder\\.layers\\.0, 1\\)`,
          ),
        );
      });
    },
  });
}

Deno.test({
  name: "config.json layer counts above the file's blocks, and in options, are bounded too",
  fn: async () => {
    await withHfConfig((c) => (c.text_config.num_hidden_layers = 3), async (dir) => {
      await rejectsBounded(
        () => loadClipWeights(dir),
        /text_config\.num_hidden_layers 3 .*2 layers \(text_model\.encoder\.layers\.0, 1\)/,
      );
      await rejectsBounded(
        () => loadClipWeights(`${tinyA}hf`, { config: { transformerLayers: 2 ** 40 } }),
        /transformerLayers 1099511627776 .*2 layers/,
      );
    });
  },
});

Deno.test("openai state dict with a stray transformer.resblocks.100000.x: a short error", async () => {
  await withTempDir(async (dir) => {
    await makeRandomClip({ arch: "tiny", format: "openai", out: join(dir, "good") });
    await Deno.remove(join(dir, "good", "open_clip_config.json"));
    await rewrite(join(dir, "good"), join(dir, "bad"), (specs) => ({
      ...specs,
      "transformer.resblocks.100000.x": { dtype: "F32", shape: [0], data: new Float32Array(0) },
    }));
    await rejectsBounded(
      () => loadClipWeights(join(dir, "bad")),
      /build_model infers\): transformerLayers 100001 .*3 layers \(transformer\.resblocks\.0, 1, 100000\)/,
    );
  });
});

Deno.test({
  name: "a checkpoint with many problems lists the first few and counts the rest",
  fn: async () => {
    await withHfConfig((c) => {
      c.text_config.hidden_size = 128;
      c.text_config.intermediate_size = 512;
    }, async (dir) => {
      await rejectsBounded(
        () => loadClipWeights(dir),
        /; 3\d problems:\n {2}mis-shaped [^\n]+\n(.*\n){9} {2}… and 2\d more$/,
      );
    });
  },
});
