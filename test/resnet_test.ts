// ResNet CLIP (OpenAI ModifiedResNet image tower) against openai/CLIP's PyTorch outputs and
// gradients for the tiny-rn case (fixtures/oracle/reference/tiny-rn; tensors mean what tiny-a's
// case.json says). Tolerances are case.json's (tiny-a's when tiny-rn's has none): relative to
// each tensor's max |value|. Also: the config build_model infers, and random ResNet checkpoints
// from make-random-clip (no fixtures/oracle needed).

import assert from "node:assert/strict";
import { join } from "node:path";
import { initGpu, noGrad, readTensors, Tensor, tidy } from "../mod.ts";
import { Clip } from "../src/clip/model.ts";
import { loadClipWeights } from "../src/clip/checkpoint.ts";
import { CLIP_ARCHS } from "../src/clip/config.ts";
import { configFromOpenClip, openClipConfigJson } from "../src/clip/config_json.ts";
import {
  readSafetensors,
  type TensorSpec,
  toFloat32,
  toInt32,
  writeSafetensors,
} from "../src/io/safetensors.ts";
import { makeRandomClip } from "../src/clip/random.ts";
import { oracleDir } from "./helpers.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

const oracle = oracleDir();
const caseDir = `${oracle}reference/tiny-rn/`;

interface Case {
  config: Record<string, number | number[] | null>;
  tolerance?: { features_rel: number; grads_rel: number };
}

async function reference() {
  const info: Case = JSON.parse(await Deno.readTextFile(`${caseDir}case.json`));
  const tolerance = info.tolerance ??
    JSON.parse(await Deno.readTextFile(`${oracle}reference/tiny-a/case.json`)).tolerance;
  const inputs = await readSafetensors(`${caseDir}inputs.safetensors`);
  const expected = await readSafetensors(`${caseDir}expected.safetensors`);
  const f = (m: typeof inputs, n: string) => {
    const t = m.tensors.get(n);
    if (!t) throw new Error(`reference tensor ${n} missing`);
    return { shape: t.shape, data: t.dtype === "I32" ? toInt32(t) : toFloat32(t) };
  };
  return {
    info,
    tolerance: tolerance as { features_rel: number; grads_rel: number },
    input: (n: string) => f(inputs, n),
    expect: (n: string) => f(expected, n) as { shape: number[]; data: Float32Array },
  };
}

/** Max |a - e| must be within rel · max |e| (case.json's convention). */
function assertRel(name: string, got: ArrayLike<number>, want: ArrayLike<number>, rel: number) {
  if (got.length !== want.length) {
    throw new Error(`${name}: ${got.length} values, expected ${want.length}`);
  }
  let maxE = 0, maxD = 0, at = 0;
  for (let i = 0; i < want.length; i++) {
    maxE = Math.max(maxE, Math.abs(want[i]));
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= maxD)) [maxD, at] = [d, i];
  }
  console.log(
    `  ${name.padEnd(30)} max|diff| ${maxD.toExponential(2)}  rel ${
      (maxD / maxE).toExponential(2)
    }`,
  );
  if (!(maxD <= rel * maxE)) {
    throw new Error(
      `${name}: max |diff| ${maxD} at ${at} (got ${got[at]}, expected ${want[at]}) exceeds ` +
        `${rel} × max |expected| ${maxE}`,
    );
  }
}

/** tiny-rn's config as openai/CLIP build_model infers it (text heads = width / 64 = 1). */
const TINY_RN_INFERRED = { ...CLIP_ARCHS["tiny-rn"], transformerHeads: 1 };

Deno.test({
  name: "tiny-rn: the config is build_model's; every tensor is used",
  fn: async () => {
    const w = await loadClipWeights(`${caseDir}openai`);
    assert.deepEqual(w.config, TINY_RN_INFERRED);
    assert.equal(w.config.visionHeads, 8); // 16 · 32 / 64
    assert.deepEqual([w.format, w.warnings], ["openai", []]);
    const file = await readSafetensors(`${caseDir}openai/model.safetensors`);
    assert.equal(w.tensors.size, file.tensors.size);
  },
});

const GRAD_WEIGHTS: Record<string, string> = {
  grad_visual_conv1: "visual.conv1.weight",
  grad_visual_layer4_last_conv3: "visual.layer4.0.conv3.weight",
  grad_visual_attnpool_c_proj: "visual.attnpool.c_proj.weight",
  grad_text_in_proj_0: "transformer.resblocks.0.attn.in_proj_weight",
  grad_text_projection: "text_projection",
  grad_token_embedding: "token_embedding.weight",
};

Deno.test({
  name: "tiny-rn: features, logits, loss and gradients match openai/CLIP",
  fn: async () => {
    const ref = await reference();
    // OpenAI state dicts do not record head counts: pass case.json's text heads.
    const weights = await loadClipWeights(`${caseDir}openai`, {
      config: { transformerHeads: ref.info.config.transformer_heads as number },
    });
    const last = (weights.config.visionResLayers ?? [])[3] - 1;
    assert.equal(GRAD_WEIGHTS.grad_visual_layer4_last_conv3, `visual.layer4.${last}.conv3.weight`);
    const clip = Clip.fromWeights(weights);
    const tol = ref.tolerance;
    const want = (n: string) => ref.expect(n).data;
    const px = ref.input("pixels"), tk = ref.input("tokens"), lab = ref.input("labels");
    const tokens = { ids: tk.data as Int32Array, shape: tk.shape };
    const labels = Array.from(lab.data);
    clip.setTrainable(Object.values(GRAD_WEIGHTS));
    const pixels = Tensor.from(px.data, px.shape, { requiresGrad: true });
    const out = tidy(() => {
      const img = clip.encodeImage(pixels);
      const txt = clip.encodeText(tokens);
      const logits = clip.logits(img, txt);
      const loss = clip.loss(img, txt, labels);
      loss.backward();
      return { img, txt, logits, loss };
    });
    const names = Object.keys(GRAD_WEIGHTS);
    const vals = await readTensors([
      out.img,
      out.txt,
      out.logits,
      out.loss,
      pixels.grad!,
      ...names.map((n) => clip.param(GRAD_WEIGHTS[n]).grad!),
    ]);
    assertRel("image_features", vals[0], want("image_features"), tol.features_rel);
    assertRel("text_features", vals[1], want("text_features"), tol.features_rel);
    assertRel("logits_per_image", vals[2], want("logits_per_image"), tol.features_rel);
    assertRel("loss", vals[3], want("loss"), tol.features_rel);
    assertRel("grad_pixels", vals[4], want("grad_pixels"), tol.grads_rel);
    names.forEach((n, i) => assertRel(n, vals[5 + i], want(n), tol.grads_rel));

    // The CoOp path: class-specific context in place of token embeddings, image path frozen.
    const ctxIn = ref.input("ctx");
    const promptTokens = ref.expect("prompt_tokens");
    const ptok = { ids: Int32Array.from(promptTokens.data), shape: promptTokens.shape };
    clip.setTrainable(Object.values(GRAD_WEIGHTS), false);
    const ctx = Tensor.from(ctxIn.data, ctxIn.shape, { requiresGrad: true });
    const pout = tidy(() => {
      const img = noGrad(() => clip.encodeImage(pixels));
      const txt = clip.encodeTextFromEmbeddings(clip.promptEmbeddings(ctx, ptok), ptok);
      const logits = clip.logits(img, txt);
      const loss = clip.loss(img, txt, labels);
      loss.backward();
      return { txt, logits, loss };
    });
    const pv = await readTensors([pout.txt, pout.logits, pout.loss, ctx.grad!]);
    assertRel("prompt_text_features", pv[0], want("prompt_text_features"), tol.features_rel);
    assertRel("prompt_logits", pv[1], want("prompt_logits"), tol.features_rel);
    assertRel("prompt_loss", pv[2], want("prompt_loss"), tol.features_rel);
    assertRel("grad_ctx", pv[3], want("grad_ctx"), tol.grads_rel);
    clip.dispose();
    pixels.dispose();
    ctx.dispose();
  },
});

Deno.test({
  name: "tiny-rn: the comparison fails on perturbed batch-norm statistics",
  fn: async () => {
    const ref = await reference();
    const w = await loadClipWeights(`${caseDir}openai`);
    const rv = w.tensors.get("visual.layer2.0.bn2.running_var")!;
    rv.data = rv.data.map((v) => v * 1.1);
    const clip = Clip.fromWeights(w);
    const px = ref.input("pixels");
    const pixels = Tensor.from(px.data, px.shape);
    const [img] = await readTensors([noGrad(() => clip.encodeImage(pixels))]);
    assert.throws(
      () => assertRel("perturbed image_features", img, ref.expect("image_features").data, 1e-4),
      /exceeds/,
    );
    clip.dispose();
    pixels.dispose();
  },
});

// ---- random ResNet checkpoints (no fixtures/oracle needed) ----------------------------------------

Deno.test("make-random-clip tiny-rn: loads back (num_batches_tracked ignored), encodes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "resnet_test_" });
  try {
    const made = await makeRandomClip({ arch: "tiny-rn", format: "openai", out: dir, seed: 3 });
    const w = await loadClipWeights(dir);
    assert.deepEqual(w.config, CLIP_ARCHS["tiny-rn"], "open_clip_config.json carries the heads");
    assert.deepEqual(w.warnings, []);
    assert.equal(w.tensors.size, 134);

    // PyTorch state dicts carry a step counter per batch norm: skipped without a warning.
    const file = await readSafetensors(made.path);
    const specs: Record<string, TensorSpec> = {};
    for (const [n, t] of file.tensors) specs[n] = { dtype: t.dtype, shape: t.shape, data: t.bytes };
    for (const n of file.tensors.keys()) {
      if (n.endsWith(".running_var")) {
        specs[n.replace("running_var", "num_batches_tracked")] = {
          dtype: "I64",
          shape: [],
          data: new Uint8Array(8),
        };
      }
    }
    await writeSafetensors(join(dir, "model.safetensors"), specs, { format: "pt" });
    const again = await loadClipWeights(dir);
    assert.deepEqual(again.warnings, []);
    assert.equal(again.tensors.size, 134);

    const clip = Clip.fromWeights(again);
    const R = CLIP_ARCHS["tiny-rn"].imageResolution;
    const pixels = Tensor.from(new Float32Array(2 * 3 * R * R).map((_, i) => Math.sin(i)), [
      2,
      3,
      R,
      R,
    ]);
    const [img] = await readTensors([noGrad(() => clip.encodeImage(pixels))]);
    assert.equal(img.length, 2 * 32);
    assert.ok(img.every(Number.isFinite) && img.some((v) => v !== 0), "finite, non-zero features");
    assert.throws(
      () => clip.encodeImage(Tensor.from(new Float32Array(3 * 32 * 32), [1, 3, 32, 32])),
      /pixels must be \[B, 3, 64, 64\], got \[1,3,32,32\]/,
    );
    clip.dispose();
    pixels.dispose();
    await assert.rejects(
      makeRandomClip({ arch: "tiny-rn", format: "hf", out: join(dir, "hf") }),
      /Hugging Face CLIPModel has no ResNet image tower/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("open_clip ResNet configs: read, written, and bad block lists refused", () => {
  for (const arch of ["RN50", "RN101", "RN50x4", "RN50x16", "RN50x64"] as const) {
    const c = CLIP_ARCHS[arch];
    assert.deepEqual(configFromOpenClip(openClipConfigJson(c), "o.json"), c, arch);
  }
  const rn50 = {
    embed_dim: 1024,
    quick_gelu: true,
    vision_cfg: { image_size: 224, layers: [3, 4, 6, 3], width: 64, patch_size: null },
    text_cfg: { context_length: 77, vocab_size: 49408, width: 512, heads: 8, layers: 12 },
  };
  assert.deepEqual(configFromOpenClip(rn50, "o.json"), CLIP_ARCHS.RN50);
  assert.equal(CLIP_ARCHS.RN50.visionHeads, 32);
  assert.throws(
    () => configFromOpenClip({ ...rn50, vision_cfg: { layers: [3, 4, 6] } }, "o.json"),
    /o\.json: vision_cfg\.layers is \[3,4,6\]; expected a number \(ViT\) or four positive/,
  );
  assert.throws(
    () =>
      configFromOpenClip(
        { ...rn50, vision_cfg: { image_size: 200, layers: [1, 1, 1, 1] } },
        "o.json",
      ),
    /imageResolution 200 is not a multiple of visionPatchSize 32/,
  );
});
