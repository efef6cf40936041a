// Writes CLIP embeddings: image_features, text_features and logits_per_image (F32) to a
// safetensors file, for indexing embeddings or checking against other implementations. The
// features are the towers' projections as openai/CLIP's encode_image / encode_text return them
// (not unit length); --normalize writes them L2-normalised (logits are the same either way).
//
// Usage: deno run -A scripts/embed.ts --model DIR
//          (--images FILES... | --pixels F.safetensors:NAME)
//          (--texts FILE | --tokens F.safetensors:NAME) --out OUT.safetensors [--vocab PATH]
//          [--normalize]

import {
  concat,
  describePixelStats,
  imageChunk,
  l2Normalize,
  loadClip,
  noGrad,
  preprocessImages,
  readSafetensors,
  readTensors,
  runWithGpu,
  type SafeTensor,
  Tensor,
  tidy,
  toFloat32,
  toInt32,
  writeSafetensors,
} from "../mod.ts";
import { trimTokens } from "../src/clip/model.ts";
import { loadTokenizer, parseFlags } from "../src/cli/common.ts";

const USAGE = `usage: deno run -A scripts/embed.ts --model DIR
         (--images FILES... | --pixels F.safetensors:NAME)
         (--texts FILE | --tokens F.safetensors:NAME) --out OUT.safetensors [--vocab PATH]
         [--normalize]   (features are encode_image/encode_text's, not unit length, unless
                          --normalize; the metadata says which. --images are normalised with
                          the model's own mean/std; --pixels are taken as normalised)`;

const { values, positionals } = parseFlags({
  args: Deno.args,
  allowPositionals: true,
  options: {
    model: { type: "string" },
    images: { type: "boolean" },
    pixels: { type: "string" },
    texts: { type: "string" },
    tokens: { type: "string" },
    out: { type: "string" },
    vocab: { type: "string" },
    normalize: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});

const fail = (msg: string): never => {
  console.error(`error: ${msg}\n${USAGE}`);
  Deno.exit(2);
};
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if (!values.model || !values.out) fail("--model and --out are required");
if (!!values.images === !!values.pixels) fail("give exactly one of --images FILES... or --pixels");
if (!!values.texts === !!values.tokens) fail("give exactly one of --texts FILE or --tokens");

/** `file.safetensors:NAME` → that tensor, or an error naming what is missing. */
async function tensorArg(spec: string): Promise<SafeTensor> {
  const at = spec.lastIndexOf(":");
  if (at <= 0) fail(`${spec}: expected FILE.safetensors:NAME`);
  const [file, name] = [spec.slice(0, at), spec.slice(at + 1)];
  const st = await readSafetensors(file);
  const t = st.tensors.get(name);
  if (!t) {
    throw new Error(`${file}: no tensor named ${name} (has ${[...st.tensors.keys()].join(", ")})`);
  }
  return t;
}

await runWithGpu(async () => {
  const clip = await loadClip(values.model!);
  const R = clip.config.imageResolution, ctx = clip.config.contextLength;

  let pixels: { data: Float32Array; shape: number[] };
  if (values.images) {
    if (positionals.length === 0) fail("--images needs at least one file");
    console.error(describePixelStats(clip.pixelStats));
    const b = await preprocessImages(positionals, R, { stats: clip.pixelStats });
    pixels = { data: b.pixels, shape: b.shape };
  } else {
    const t = await tensorArg(values.pixels!);
    pixels = { data: toFloat32(t), shape: t.shape };
  }

  let tokens: { ids: Int32Array; shape: [number, number] };
  if (values.texts) {
    const lines = (await Deno.readTextFile(values.texts)).split("\n").filter((l) => l.trim());
    if (lines.length === 0) throw new Error(`${values.texts}: no texts`);
    tokens = (await loadTokenizer(values.model!, values.vocab, clip.config.vocabSize))
      .tokenize(lines, ctx);
  } else {
    const t = await tensorArg(values.tokens!);
    if (t.shape.length !== 2) throw new Error(`--tokens: expected [N, T] ids, got [${t.shape}]`);
    tokens = { ids: toInt32(t), shape: [t.shape[0], t.shape[1]] };
  }

  // Images go through the tower in chunks that fit the adapter's largest binding.
  const [n, , h, w] = pixels.shape,
    m = pixels.data.length / Math.max(n, 1),
    chunk = imageChunk(clip);
  const out = noGrad(() =>
    tidy(() => {
      const parts: Tensor[] = [];
      for (let s = 0; s < n; s += chunk) {
        const k = Math.min(chunk, n - s);
        parts.push(clip.encodeImage(
          Tensor.from(pixels.data.subarray(s * m, (s + k) * m), [k, pixels.shape[1], h, w]),
        ));
      }
      const raw = parts.length === 1 ? parts[0] : concat(parts, 0);
      const txtRaw = clip.encodeText(trimTokens(tokens));
      const logits = clip.logits(raw, txtRaw);
      const img = values.normalize ? l2Normalize(raw) : raw;
      const txt = values.normalize ? l2Normalize(txtRaw) : txtRaw;
      return { img, txt, logits };
    })
  );
  const [img, txt, logits] = await readTensors([out.img, out.txt, out.logits]);
  const f32 = (data: Float32Array, shape: readonly number[]) => ({
    dtype: "F32" as const,
    shape: [...shape],
    data,
  });
  await writeSafetensors(values.out!, {
    image_features: f32(img, out.img.shape),
    text_features: f32(txt, out.txt.shape),
    logits_per_image: f32(logits, out.logits.shape),
  }, {
    model: values.model!,
    format: clip.source.format,
    normalized: String(!!values.normalize),
    // The mean/std the images were normalised with (--pixels came normalised already).
    ...(values.images
      ? {
        pixel_stats: JSON.stringify({
          source: clip.pixelStats.source,
          mean: clip.pixelStats.mean,
          std: clip.pixelStats.std,
        }),
      }
      : {}),
  });
  console.log(
    JSON.stringify({
      out: values.out,
      images: out.img.shape[0],
      texts: out.txt.shape[0],
      embed_dim: out.img.shape[1],
      normalized: !!values.normalize,
    }),
  );
  clip.dispose();
});
