// CLIP's BPE tokenizer: every case of fixtures/oracle/reference/tokenizer-cases.json from each of the
// three vocabulary sources (OpenAI .gz, HF vocab.json + merges.txt, a tokenizer.json built from
// them), edge cases checked against the Python simple_tokenizer.py, padding / truncation,
// decoding, and clear loading errors. The cases and HF vocabulary files are the oracle's
// (fixtures/oracle), the OpenAI .gz is the bundled one; tests copy them to temp folders as needed.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BUNDLED_VOCAB,
  bytesToUnicode,
  ClipTokenizer,
  OPENAI_VOCAB_FILE,
} from "../src/clip/tokenizer.ts";
import { cleanText, htmlUnescape } from "../src/clip/tokenizer/text.ts";
import { oracleDir } from "./helpers.ts";

interface Case {
  text: string;
  ids: number[];
  tokenize77: number[];
}
interface Cases {
  sot: number;
  eot: number;
  vocab_size: number;
  cases: Case[];
}

const oracle = oracleDir();
const casesPath = join(oracle, "reference", "tokenizer-cases.json");
const gzPath = BUNDLED_VOCAB;
const hfDir = join(oracle, "clip-vocab", "hf");
const cases: Cases = JSON.parse(Deno.readTextFileSync(casesPath));

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "tokenizer_test_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every case: encode (with SOT/EOT added) and the batched tokenize to 77. */
function assertAllCases(tok: ClipTokenizer, what: string) {
  const c = cases;
  assert.equal(tok.sotToken, c.sot, `${what}: sotToken`);
  assert.equal(tok.eotToken, c.eot, `${what}: eotToken`);
  assert.equal(tok.vocabSize, c.vocab_size, `${what}: vocabSize`);
  const { ids, shape } = tok.tokenize(c.cases.map((k) => k.text));
  assert.deepEqual(shape, [c.cases.length, 77]);
  let bad = 0;
  const report: string[] = [];
  c.cases.forEach((k, i) => {
    const got = [tok.sotToken, ...tok.encode(k.text), tok.eotToken];
    const row = Array.from(ids.subarray(i * 77, (i + 1) * 77));
    const okIds = got.length === k.ids.length && got.every((v, j) => v === k.ids[j]);
    const okRow = row.every((v, j) => v === k.tokenize77[j]);
    if (!okIds || !okRow) {
      bad++;
      if (report.length < 5) {
        report.push(
          `${JSON.stringify(k.text)}: ids ${okIds ? "ok" : `[${got}] ≠ [${k.ids}]`}, ` +
            `tokenize77 ${okRow ? "ok" : `[${row}] ≠ [${k.tokenize77}]`}`,
        );
      }
    }
  });
  assert.equal(bad, 0, `${what}: ${bad} of ${c.cases.length} cases differ:\n${report.join("\n")}`);
}

Deno.test({
  name: "OpenAI bpe_simple_vocab_16e6.txt.gz: every reference case, ids and tokenize77",
  async fn() {
    const t0 = performance.now();
    const tok = await ClipTokenizer.fromOpenAIVocab(gzPath);
    const ms = performance.now() - t0;
    assert.ok(ms < 3000, `loading the OpenAI vocabulary took ${ms.toFixed(0)} ms`);
    assertAllCases(tok, "fromOpenAIVocab");
  },
});

Deno.test({
  name: "fromDir on a temp copy of the .gz, of vocab.json + merges.txt, and of a tokenizer.json",
  async fn() {
    await withTempDir(async (dir) => {
      const gzDir = join(dir, "openai"), hf = join(dir, "hf"), tj = join(dir, "tokjson");
      await Promise.all([gzDir, hf, tj].map((d) => Deno.mkdir(d)));
      await Deno.copyFile(gzPath, join(gzDir, OPENAI_VOCAB_FILE));
      await Deno.copyFile(join(hfDir, "vocab.json"), join(hf, "vocab.json"));
      await Deno.copyFile(join(hfDir, "merges.txt"), join(hf, "merges.txt"));

      const fromGz = await ClipTokenizer.fromDir(gzDir);
      assertAllCases(fromGz, "fromDir(.gz folder)");

      const t0 = performance.now();
      const fromHf = await ClipTokenizer.fromDir(hf);
      const ms = performance.now() - t0;
      assert.ok(ms < 3000, `loading vocab.json + merges.txt took ${ms.toFixed(0)} ms`);
      assertAllCases(fromHf, "fromDir(vocab.json + merges.txt)");

      // A tokenizer.json built from the HF files; it wins over vocab.json + merges.txt beside it.
      const json = fromHf.toTokenizerJson();
      await Deno.writeTextFile(join(tj, "tokenizer.json"), JSON.stringify(json));
      await Deno.writeTextFile(join(tj, "vocab.json"), "{}");
      await Deno.writeTextFile(join(tj, "merges.txt"), "");
      const fromJson = await ClipTokenizer.fromDir(tj);
      assert.match(fromJson.source, /tokenizer\.json/);
      assertAllCases(fromJson, "fromDir(tokenizer.json)");

      // Merges as ["a", "b"] pairs (the newer tokenizer.json format) load the same.
      const model = json.model as { merges: string[] };
      const pairs = { ...json, model: { ...model, merges: model.merges.map((m) => m.split(" ")) } };
      const fromPairs = ClipTokenizer.fromTokenizerJsonData(pairs);
      assert.deepEqual(fromPairs.encode("a photo of a cat."), fromHf.encode("a photo of a cat."));

      // A path to a vocabulary file works too.
      const direct = await ClipTokenizer.fromDir(join(tj, "tokenizer.json"));
      assert.deepEqual(direct.encode("hunting bow"), fromGz.encode("hunting bow"));
    });
  },
});

// Expected ids from openai/CLIP simple_tokenizer.py (ftfy as identity), Python 3.11 + regex.
const EDGE_CASES: { text: string; ids: number[]; decoded: string }[] = [
  // A special token inside a punctuation run is not special upstream.
  { text: "!<|endoftext|>", ids: [0, 27, 347, 40786, 4160, 91, 285], decoded: "!<| endoftext |> " },
  { text: "x<|startoftext|>y", ids: [343, 49406, 344], decoded: "x <|startoftext|>y " },
  // IGNORECASE lets ſ complete 's; U+0345 matches no class and is dropped.
  {
    text: "it's IT'S it'\u017f",
    ids: [585, 568, 585, 568, 585, 6, 129, 379],
    decoded: "it 's it 's it '\u017f ",
  },
  { text: "a\u0345b", ids: [320, 321], decoded: "a b " },
  // Python's \s has U+0085 but not U+FEFF; strip() also removes U+001C..U+001F.
  {
    text: "\ufeffa\u0085b\u001cc\u001f",
    ids: [171, 119, 379, 320, 321, 472, 322],
    decoded: "\ufeff a b \u001c c ",
  },
  { text: "\u3000 a\u2028b\u00a0 ", ids: [320, 321], decoded: "a b " },
  // html.unescape twice: nested, legacy prefixes, numeric remaps / drops / replacements.
  {
    text: "&amp;lt; &amp &notit; &copy2 &#x41;&#65&#128;&#0;&#1;&#55296;&#99999999;",
    ids: [283, 261, 126, 361, 585, 282, 5811, 273, 3894, 34919, 47356, 47356, 39802],
    decoded: "< & \u00ac it ; \u00a9 2 aa \u20ac\ufffd\ufffd\ufffd ",
  },
  {
    text: "&NotNestedGreaterGreater; &ThickSpace;x &zz; & &;",
    ids: [158, 103, 95, 136, 372, 343, 261, 4943, 282, 261, 5, 282],
    decoded: "\u2aa2\u0338 x & zz ; & &; ",
  },
  // Final sigma, İ → i̇, no NFC.
  {
    text: "\u03a3\u0391\u03a3 \u039f\u0394\u039f\u03a3",
    ids: [139, 225, 138, 109, 139, 480, 138, 123, 138, 112, 138, 123, 139, 480],
    decoded: "\u03c3\u03b1\u03c2 \u03bf\u03b4\u03bf\u03c2 ",
  },
  { text: "\u0130stanbul", ids: [328, 16384, 11231], decoded: "i \u0307 stanbul " },
  { text: "cafe\u0301 caf\u00e9", ids: [4979, 136, 479, 15304], decoded: "cafe \u0301 caf\u00e9 " },
];

Deno.test({
  name: "edge cases match simple_tokenizer.py (specials in punctuation, ſ, whitespace, entities)",
  async fn() {
    const tok = await ClipTokenizer.fromDir(hfDir);
    for (const { text, ids, decoded } of EDGE_CASES) {
      assert.deepEqual(tok.encode(text), ids, `encode(${JSON.stringify(text)})`);
      assert.equal(tok.decode(ids), decoded, `decode of ${JSON.stringify(text)}`);
    }
    // The per-word cache hands out copies: changing a result changes nothing later.
    const first = tok.encode("cat cat");
    first[0] = -1;
    assert.deepEqual(tok.encode("cat cat"), [2368, 2368]);
  },
});

Deno.test("text cleaning: html.unescape, strip and whitespace as CPython", () => {
  assert.equal(
    htmlUnescape("&lt;b&gt; &quot;q&quot; &#39;x&#39; &eacute;&Eacute"),
    "<b> \"q\" 'x' éÉ",
  );
  assert.equal(htmlUnescape("&#x1F642;&#X41;&#65"), "🙂AA");
  assert.equal(htmlUnescape("&#150;&#xfdd0;&#x110000;"), "\u2013\ufffd");
  assert.equal(htmlUnescape("no entities"), "no entities");
  assert.equal(cleanText("  A\t\tB\n&amp;amp; C\u00a0\u00a0D  "), "a b & c d");
  assert.equal(cleanText("\u001c X \u001c Y \u001f"), "x \u001c y");
});

/**
 * A small vocabulary in CLIP's layout (byte symbols, their "</w>" forms, a few merges, SOT/EOT),
 * so padding and truncation are tested without fixtures/oracle.
 */
function tinyTokenizer(): ClipTokenizer {
  const alphabet = bytesToUnicode();
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const c of alphabet) vocab[c] = id++;
  for (const c of alphabet) vocab[c + "</w>"] = id++;
  const merges: [string, string][] = [["c", "a"], ["ca", "t</w>"], ["d", "o"], ["do", "g</w>"]];
  for (const [a, b] of merges) vocab[a + b] = id++;
  vocab["<|startoftext|>"] = id++;
  vocab["<|endoftext|>"] = id++;
  return ClipTokenizer.fromVocabAndMergesData(vocab, merges);
}

Deno.test("tokenize: SOT + ids + EOT, 0-padding, batch shape, truncation keeps EOT last", () => {
  const tok = tinyTokenizer();
  const [sot, eot] = [tok.sotToken, tok.eotToken];
  assert.deepEqual([sot, eot, tok.vocabSize], [516, 517, 518]);
  const cat = tok.encode("cat")[0], dog = tok.encode("dog")[0];
  assert.deepEqual(tok.encode("Cat DOG"), [cat, dog]);

  const one = tok.tokenize("cat dog");
  assert.deepEqual(one.shape, [1, 77]);
  assert.equal(one.ids.length, 77);
  assert.deepEqual(Array.from(one.ids.subarray(0, 5)), [sot, cat, dog, eot, 0]);
  assert.ok(one.ids.subarray(4).every((v) => v === 0));

  const batch = tok.tokenize(["cat", "", "dog dog"], 6);
  assert.deepEqual(batch.shape, [3, 6]);
  assert.deepEqual(Array.from(batch.ids), [
    ...[sot, cat, eot, 0, 0, 0],
    ...[sot, eot, 0, 0, 0, 0],
    ...[sot, dog, dog, eot, 0, 0],
  ]);
  assert.deepEqual(tok.tokenize([]).shape, [0, 77]);

  // Exactly filling the context is not truncation; one more token is.
  const fits = tok.tokenize("cat cat cat", 5, { truncate: false });
  assert.deepEqual(Array.from(fits.ids), [sot, cat, cat, cat, eot]);
  const long = Array.from({ length: 100 }, (_, i) => (i % 2 ? "dog" : "cat")).join(" ");
  const cut = tok.tokenize(long);
  const full = [sot, ...tok.encode(long), eot];
  assert.equal(full.length, 102);
  assert.deepEqual(Array.from(cut.ids), [...full.slice(0, 76), eot]);
  assert.deepEqual(Array.from(tok.tokenize("cat dog cat", 3).ids), [sot, cat, eot]);
  assert.deepEqual(Array.from(tok.tokenize("cat", 1).ids), [eot]);
  assert.throws(
    () => tok.tokenize(["cat", long], 77, { truncate: false }),
    /text 1 is too long for context length 77 \(102 tokens/,
  );
  assert.throws(() => tok.tokenize("cat", 0), /contextLength must be a positive integer/);
});

Deno.test("decode: upstream text, skipSpecialTokens stops at EOT, unknown ids throw", () => {
  const tok = tinyTokenizer();
  const row = tok.tokenize("Cat, dog!", 10).ids;
  assert.equal(tok.decode(row.subarray(0, 6)), "<|startoftext|>cat , dog ! <|endoftext|>");
  assert.equal(tok.decode(row, { skipSpecialTokens: true }), "cat , dog ! ");
  assert.equal(tok.decode(tok.encode("naïve 🙂")), "naïve 🙂 ");
  assert.throws(() => tok.decode([9999]), /id 9999 is not in the vocabulary/);
});

Deno.test("loading errors name the file and what was expected", async () => {
  await withTempDir(async (dir) => {
    const missing = join(dir, "nope");
    await assert.rejects(
      ClipTokenizer.fromDir(missing),
      (e: Error) =>
        e.message.includes(missing) && /not found \(expected a model folder/.test(e.message),
    );
    await assert.rejects(
      ClipTokenizer.fromDir(dir),
      /no tokenizer files \(expected a model folder/,
    );
    await assert.rejects(
      ClipTokenizer.fromOpenAIVocab(join(dir, OPENAI_VOCAB_FILE)),
      /bpe_simple_vocab_16e6\.txt\.gz: not found \(expected OpenAI's/,
    );

    await Deno.writeTextFile(join(dir, OPENAI_VOCAB_FILE), "plain text, not gzip\n");
    await assert.rejects(ClipTokenizer.fromDir(dir), /txt\.gz: not a gzip file/);
    const gz = new Blob(["#version: 0.2\ni n\n"]).stream().pipeThrough(
      new CompressionStream("gzip"),
    );
    await Deno.writeFile(join(dir, OPENAI_VOCAB_FILE), gz);
    await assert.rejects(ClipTokenizer.fromDir(dir), /lines, expected a version line and at least/);

    await Deno.writeTextFile(join(dir, "vocab.json"), '{"a": 0}');
    await assert.rejects(
      ClipTokenizer.fromDir(dir),
      (e: Error) =>
        e.message.includes(join(dir, "merges.txt")) && /needs merges\.txt/.test(e.message),
    );
    await Deno.writeTextFile(join(dir, "merges.txt"), "#version: 0.2\na b c\n");
    await assert.rejects(ClipTokenizer.fromDir(dir), /merges\.txt line 2: expected a merge "A B"/);
    await Deno.writeTextFile(join(dir, "merges.txt"), "#version: 0.2\na b\n");
    await assert.rejects(ClipTokenizer.fromDir(dir), /lacks <\|startoftext\|> or <\|endoftext\|>/);
    await Deno.writeTextFile(
      join(dir, "vocab.json"),
      '{"a": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}',
    );
    await assert.rejects(ClipTokenizer.fromDir(dir), /lacks the byte symbol .*is this a CLIP/);
    await Deno.writeTextFile(join(dir, "vocab.json"), "{not json");
    await assert.rejects(ClipTokenizer.fromDir(dir), /vocab\.json: not valid JSON \(expected/);

    await Deno.writeTextFile(join(dir, "tokenizer.json"), '{"model": {"type": "WordPiece"}}');
    await assert.rejects(ClipTokenizer.fromDir(dir), /tokenizer\.json: expected a tokenizer\.json/);
    await Deno.writeTextFile(
      join(dir, "tokenizer.json"),
      '{"model": {"type": "Unigram", "vocab": {}, "merges": []}}',
    );
    await assert.rejects(ClipTokenizer.fromDir(dir), /model\.type is "Unigram", expected "BPE"/);
  });

  // A merge whose parts or result are not in the vocabulary.
  const alphabet = bytesToUnicode();
  const vocab: Record<string, number> = { "<|startoftext|>": 512, "<|endoftext|>": 513 };
  alphabet.forEach((c, i) => {
    vocab[c] = i;
    vocab[c + "</w>"] = 256 + i;
  });
  assert.throws(
    () => ClipTokenizer.fromVocabAndMergesData(vocab, [["c", "a"]]),
    /merge 1 "c a" uses "ca", which is not in the vocabulary/,
  );
});
