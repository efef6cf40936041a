// CLIP's byte-level BPE tokenizer, exactly as openai/CLIP clip/simple_tokenizer.py (and open_clip's
// SimpleTokenizer / clip.tokenize(truncate=True)) computes it, with ftfy.fix_text taken as the
// identity (as fixtures/oracle/reference/tokenizer-cases.json was made; none of its texts is mojibake, and
// ftfy would also NFC-normalise and straighten curly quotes, which the cases do not expect).
//
// Pipeline: html.unescape twice, str.strip, whitespace runs → " ", strip, lower-case (all with
// CPython's semantics, src/clip/tokenizer/text.ts); CLIP's split pattern; UTF-8 bytes →
// bytes_to_unicode characters; "</w>" on the last symbol; merges by rank (all occurrences of the
// best pair left to right, as upstream); a per-word cache. SOT 49406 / EOT 49407 / padding 0.
//
// Why hand-written and not npm:@huggingface/tokenizers@0.2.0 (measured with Deno 2.9.6 on the
// 3335 cases of tokenizer-cases.json, plus 4000 random edge-case texts encoded by the Python
// simple_tokenizer.py: whitespace kinds, entities, special tokens inside punctuation, ſ, U+0345,
// combining marks, scripts, emoji; the library ran this vocabulary as a CLIP tokenizer.json):
//   hand-written: cases 3335/3335, edge cases 4000/4000; 1.2 µs/text warm (cache filled),
//     ~45 ms first pass over the cases; 20000 distinct uncached words ~55 ms.
//   library on raw text: cases 3334/3335 (no HTML unescaping), edge cases 1146/4000;
//     ~11 µs/text warm.
//   library on text cleaned by cleanText(): cases 3335/3335, edge cases 3102/4000 (3393/4000
//     without its NFC normalizer): it splits <|endoftext|> out of punctuation runs (upstream,
//     "!<|endoftext|>" is "!<|" "endoftext" "|>"), and normalises; ~11-13 µs/text warm; 20000
//     uncached words ~260 ms; building its Tokenizer from the JSON adds ~115 ms to loading.
// So the library is exact only on the easy cases and slower; this file has no dependency.
// Loading takes ~130-230 ms (OpenAI .gz) and ~100-200 ms (vocab.json + merges.txt).
// Known limit: characters whose Unicode data differ between V8's ICU and the reference Python
// (letters assigned after V8's Unicode version; capitals Python 3.11's Unicode 14 cannot
// lower-case) tokenise as each runtime classifies them: 4684 of all 1112064 code points.
//
// Sources: OpenAI's bpe_simple_vocab_16e6.txt.gz, HF vocab.json + merges.txt, HF tokenizer.json
// (its model.vocab / model.merges / added_tokens; its normalizer and pre-tokenizer are ignored:
// the upstream pipeline above is always used, which is what CLIP's tokenizer.json encodes).

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { cleanText, splitWords } from "./tokenizer/text.ts";

/** Name of OpenAI's vocabulary file. */
export const OPENAI_VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz";
const BUNDLED_VOCAB_URL = new URL(`./tokenizer/${OPENAI_VOCAB_FILE}`, import.meta.url);
/**
 * The copy of OpenAI's vocabulary that ships in this package (src/clip/tokenizer/): a file path,
 * or its https URL when the package itself was imported from one (read with fetch).
 */
export const BUNDLED_VOCAB: string = BUNDLED_VOCAB_URL.protocol === "file:"
  ? fileURLToPath(BUNDLED_VOCAB_URL)
  : BUNDLED_VOCAB_URL.href;
/** Number of merges simple_tokenizer.py reads from the OpenAI file (49152 - 256 - 2). */
export const OPENAI_MERGE_COUNT = 49152 - 256 - 2;

const SOT_TEXT = "<|startoftext|>";
const EOT_TEXT = "<|endoftext|>";
const END_OF_WORD = "</w>";
/** Cached words kept before the cache is emptied (upstream's cache is unbounded). */
const CACHE_LIMIT = 100_000;

/** Options of {@link ClipTokenizer.tokenize}. */
export interface TokenizeOptions {
  /**
   * Texts longer than the context length keep their first `contextLength - 1` tokens followed by
   * EOT (default true, as open_clip and `clip.tokenize(truncate=True)`); with false they throw.
   */
  truncate?: boolean;
}

/** A batch of token rows: row-major `ids`, `shape = [rows, contextLength]`, padded with 0. */
export interface TokenizedBatch {
  /** The token ids, row after row. */
  ids: Int32Array;
  /** [rows, contextLength]. */
  shape: [number, number];
}

/** Options of {@link ClipTokenizer.decode}. */
export interface DecodeOptions {
  /** Drop SOT/EOT and everything after the first EOT (the padding of a tokenize row). */
  skipSpecialTokens?: boolean;
}

/** A model's tokenizer.json (only the parts read here). */
export interface TokenizerJson {
  model: {
    type?: string;
    vocab: Record<string, number>;
    merges: (string | [string, string])[];
    end_of_word_suffix?: string | null;
  };
  added_tokens?: { id: number; content: string }[];
}

/** GPT-2's bytes_to_unicode: each byte → a printable character (ranks order = CLIP's). */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out = new Array<string>(256);
  for (let i = 0; i < 256; i++) out[bs[i]] = String.fromCodePoint(cs[i]);
  return out;
}

/** The characters of bytes_to_unicode in its own order (the first 256 tokens of CLIP's vocab). */
function byteAlphabet(): string[] {
  const bytes = bytesToUnicode();
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  for (let b = 0; b < 256; b++) if (!order.includes(b)) order.push(b);
  return order.map((b) => bytes[b]);
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function readBytes(path: string, what: string): Promise<Uint8Array> {
  if (/^https?:\/\//.test(path)) {
    const r = await fetch(path);
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status} (expected ${what})`);
    return new Uint8Array(await r.arrayBuffer());
  }
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${path}: not found (expected ${what})`);
    throw new Error(`${path}: cannot read (expected ${what}): ${errorMessage(e)}`);
  }
}

async function readText(path: string, what: string): Promise<string> {
  const bytes = await readBytes(path, what);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${path}: not valid UTF-8 (expected ${what})`);
  }
}

async function readJson(path: string, what: string): Promise<unknown> {
  const text = await readText(path, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (expected ${what}): ${errorMessage(e)}`);
  }
}

async function gunzip(bytes: Uint8Array, path: string): Promise<Uint8Array> {
  if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new Error(`${path}: not a gzip file (expected OpenAI's gzipped ${OPENAI_VOCAB_FILE})`);
  }
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
      .pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new Error(`${path}: corrupt gzip data: ${errorMessage(e)}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Parses merges.txt text: an optional "#version" line, then "a b" per line. */
function parseMergesText(text: string, source: string): [string, string][] {
  const lines = text.split("\n");
  const merges: [string, string][] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "");
    if (line === "" || (i === 0 && line.startsWith("#version"))) continue;
    const parts = line.split(" ");
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new Error(
        `${source} line ${i + 1}: expected a merge "A B" (two symbols, one space), got ${
          JSON.stringify(line.slice(0, 80))
        }`,
      );
    }
    merges.push([parts[0], parts[1]]);
  }
  return merges;
}

/**
 * CLIP's BPE tokenizer. Load with {@link ClipTokenizer.fromDir} or
 * {@link ClipTokenizer.fromOpenAIVocab} (async), or from in-memory data with the `from*Data` and
 * `fromOpenAIVocabText` constructors.
 */
export class ClipTokenizer {
  /** Id of `<|startoftext|>` (49406 for CLIP). */
  readonly sotToken: number;
  /** Id of `<|endoftext|>` (49407 for CLIP). */
  readonly eotToken: number;
  /** Number of ids (highest id + 1; 49408 for CLIP). */
  readonly vocabSize: number;
  /** Where the vocabulary came from (for messages). */
  readonly source: string;

  readonly #decoder: string[];
  readonly #byteId: Int32Array;
  readonly #byteEndId: Int32Array;
  /** (left id · vocabSize + right id) → rank · 65536 + merged id. */
  readonly #merges: Map<number, number>;
  readonly #cache = new Map<string, readonly number[]>();
  readonly #byteEncoder = bytesToUnicode();
  readonly #byteDecoder: Map<string, number>;
  readonly #utf8 = new TextEncoder();

  private constructor(
    encoder: Map<string, number>,
    merges: readonly (readonly [string, string])[],
    source: string,
  ) {
    this.source = source;
    const sot = encoder.get(SOT_TEXT), eot = encoder.get(EOT_TEXT);
    if (sot === undefined || eot === undefined) {
      throw new Error(`${source}: the vocabulary lacks ${SOT_TEXT} or ${EOT_TEXT}`);
    }
    this.sotToken = sot;
    this.eotToken = eot;
    let size = 0;
    for (const [token, id] of encoder) {
      if (!Number.isInteger(id) || id < 0) {
        throw new Error(`${source}: token ${JSON.stringify(token)} has an invalid id ${id}`);
      }
      if (id >= size) size = id + 1;
    }
    if (size > 65536) throw new Error(`${source}: ${size} ids (at most 65536 supported)`);
    this.vocabSize = size;
    this.#decoder = new Array<string>(size).fill("");
    for (const [token, id] of encoder) this.#decoder[id] = token;

    this.#byteDecoder = new Map(this.#byteEncoder.map((c, b) => [c, b]));
    this.#byteId = new Int32Array(256);
    this.#byteEndId = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const c = this.#byteEncoder[b];
      const id = encoder.get(c), endId = encoder.get(c + END_OF_WORD);
      if (id === undefined || endId === undefined) {
        throw new Error(
          `${source}: the vocabulary lacks the byte symbol ${JSON.stringify(c)} (byte ${b}) or ` +
            `${JSON.stringify(c + END_OF_WORD)}; is this a CLIP vocabulary?`,
        );
      }
      this.#byteId[b] = id;
      this.#byteEndId[b] = endId;
    }

    this.#merges = new Map();
    for (let rank = 0; rank < merges.length; rank++) {
      const [a, b] = merges[rank];
      const ia = encoder.get(a), ib = encoder.get(b), im = encoder.get(a + b);
      if (ia === undefined || ib === undefined || im === undefined) {
        const missing = ia === undefined ? a : ib === undefined ? b : a + b;
        throw new Error(
          `${source}: merge ${rank + 1} "${a} ${b}" uses ${JSON.stringify(missing)}, ` +
            `which is not in the vocabulary`,
        );
      }
      // A repeated pair takes its last rank, as dict(zip(merges, range(len(merges)))).
      this.#merges.set(ia * size + ib, rank * 65536 + im);
    }
  }

  /**
   * Loads a model folder: `tokenizer.json`, else `vocab.json` + `merges.txt`, else OpenAI's
   * `bpe_simple_vocab_16e6.txt.gz` (a path to one of those files also works).
   */
  static async fromDir(dir: string): Promise<ClipTokenizer> {
    const expected =
      `a model folder with tokenizer.json, vocab.json + merges.txt, or ${OPENAI_VOCAB_FILE}`;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(dir);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(`${dir}: not found (expected ${expected})`);
      }
      throw new Error(`${dir}: cannot read (expected ${expected}): ${errorMessage(e)}`);
    }
    if (info.isFile) {
      if (dir.endsWith(".gz")) return ClipTokenizer.fromOpenAIVocab(dir);
      if (dir.endsWith(".json") && !dir.endsWith("vocab.json")) {
        return ClipTokenizer.fromTokenizerJson(dir);
      }
      throw new Error(`${dir}: a file, expected ${expected}`);
    }
    const tokJson = join(dir, "tokenizer.json");
    if (await exists(tokJson)) return ClipTokenizer.fromTokenizerJson(tokJson);
    const vocab = join(dir, "vocab.json"), merges = join(dir, "merges.txt");
    const [hasVocab, hasMerges] = await Promise.all([exists(vocab), exists(merges)]);
    if (hasVocab || hasMerges) {
      if (!hasMerges) {
        throw new Error(`${merges}: not found (vocab.json needs merges.txt beside it)`);
      }
      if (!hasVocab) throw new Error(`${vocab}: not found (merges.txt needs vocab.json beside it)`);
      return ClipTokenizer.fromVocabAndMerges(vocab, merges);
    }
    const gz = join(dir, OPENAI_VOCAB_FILE);
    if (await exists(gz)) return ClipTokenizer.fromOpenAIVocab(gz);
    throw new Error(`${dir}: no tokenizer files (expected ${expected})`);
  }

  /** CLIP's own BPE vocabulary (49,408 tokens), shipped with Antidote. */
  static bundled(): Promise<ClipTokenizer> {
    return ClipTokenizer.fromOpenAIVocab(BUNDLED_VOCAB);
  }

  /** Loads OpenAI's `bpe_simple_vocab_16e6.txt.gz`. */
  static async fromOpenAIVocab(path: string): Promise<ClipTokenizer> {
    const bytes = await gunzip(await readBytes(path, `OpenAI's ${OPENAI_VOCAB_FILE}`), path);
    // Only the version line and the first OPENAI_MERGE_COUNT merges are used: decode just those.
    let end = 0;
    for (let lines = 0; end < bytes.length; end++) {
      if (bytes[end] === 0x0a && ++lines === OPENAI_MERGE_COUNT + 1) break;
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, end));
    } catch {
      throw new Error(`${path}: the decompressed data is not UTF-8 text`);
    }
    return ClipTokenizer.fromOpenAIVocabText(text, path);
  }

  /** Loads HF `vocab.json` + `merges.txt`. */
  static async fromVocabAndMerges(vocabPath: string, mergesPath: string): Promise<ClipTokenizer> {
    const [vocab, merges] = await Promise.all([
      readJson(vocabPath, "vocab.json: an object of token → id"),
      readText(mergesPath, 'merges.txt: one merge "A B" per line'),
    ]);
    return ClipTokenizer.fromVocabAndMergesData(vocab, parseMergesText(merges, mergesPath), {
      vocab: vocabPath,
      merges: mergesPath,
    });
  }

  /** Loads a HF `tokenizer.json` (its BPE model and added tokens). */
  static async fromTokenizerJson(path: string): Promise<ClipTokenizer> {
    const json = await readJson(path, "tokenizer.json with a BPE model");
    return ClipTokenizer.fromTokenizerJsonData(json, path);
  }

  /** From the decompressed text of `bpe_simple_vocab_16e6.txt.gz` (as simple_tokenizer.py). */
  static fromOpenAIVocabText(text: string, source = OPENAI_VOCAB_FILE): ClipTokenizer {
    const lines = text.split("\n");
    if (lines.length < OPENAI_MERGE_COUNT + 1) {
      throw new Error(
        `${source}: ${lines.length} lines, expected a version line and at least ` +
          `${OPENAI_MERGE_COUNT} merges`,
      );
    }
    const merges = parseMergesText(
      ["", ...lines.slice(1, OPENAI_MERGE_COUNT + 1)].join("\n"),
      source,
    );
    if (merges.length !== OPENAI_MERGE_COUNT) {
      throw new Error(`${source}: ${merges.length} merges, expected ${OPENAI_MERGE_COUNT}`);
    }
    const alphabet = byteAlphabet();
    const vocab = [...alphabet, ...alphabet.map((c) => c + END_OF_WORD)];
    for (const [a, b] of merges) vocab.push(a + b);
    vocab.push(SOT_TEXT, EOT_TEXT);
    const encoder = new Map<string, number>();
    vocab.forEach((token, id) => encoder.set(token, id));
    return new ClipTokenizer(encoder, merges, source);
  }

  /** From a parsed vocab.json object and merges (pairs in rank order). */
  static fromVocabAndMergesData(
    vocab: unknown,
    merges: readonly (readonly [string, string])[],
    source: { vocab: string; merges: string } = { vocab: "vocab.json", merges: "merges.txt" },
  ): ClipTokenizer {
    if (typeof vocab !== "object" || vocab === null || Array.isArray(vocab)) {
      throw new Error(`${source.vocab}: expected a JSON object of token → id`);
    }
    const encoder = new Map<string, number>();
    for (const [token, id] of Object.entries(vocab)) {
      if (typeof id !== "number") {
        throw new Error(`${source.vocab}: token ${JSON.stringify(token)} has a non-numeric id`);
      }
      encoder.set(token, id);
    }
    return new ClipTokenizer(encoder, merges, `${source.vocab} + ${source.merges}`);
  }

  /** From a parsed tokenizer.json object. */
  static fromTokenizerJsonData(json: unknown, source = "tokenizer.json"): ClipTokenizer {
    const model = (json as { model?: unknown } | null)?.model as TokenizerJson["model"] | undefined;
    if (
      typeof model !== "object" || model === null || typeof model.vocab !== "object" ||
      !Array.isArray(model.merges)
    ) {
      throw new Error(`${source}: expected a tokenizer.json with model.vocab and model.merges`);
    }
    if (model.type !== undefined && model.type !== "BPE") {
      throw new Error(`${source}: model.type is ${JSON.stringify(model.type)}, expected "BPE"`);
    }
    if (model.end_of_word_suffix != null && model.end_of_word_suffix !== END_OF_WORD) {
      throw new Error(
        `${source}: model.end_of_word_suffix is ${JSON.stringify(model.end_of_word_suffix)}, ` +
          `expected "${END_OF_WORD}" (a CLIP tokenizer)`,
      );
    }
    const merges: [string, string][] = model.merges.map((m, i) => {
      const pair = typeof m === "string" ? m.split(" ") : m;
      if (!Array.isArray(pair) || pair.length !== 2 || !pair[0] || !pair[1]) {
        throw new Error(`${source}: model.merges[${i}] is not a pair "A B" or ["A", "B"]`);
      }
      return [String(pair[0]), String(pair[1])];
    });
    const vocab: Record<string, number> = { ...model.vocab };
    for (const t of (json as TokenizerJson).added_tokens ?? []) {
      if (t && typeof t.content === "string" && typeof t.id === "number" && !(t.content in vocab)) {
        vocab[t.content] = t.id;
      }
    }
    return ClipTokenizer.fromVocabAndMergesData(vocab, merges, {
      vocab: `${source} (model.vocab)`,
      merges: "model.merges",
    });
  }

  /** The BPE ids of one pre-token (cached per word, as upstream). */
  #word(word: string): readonly number[] {
    const cached = this.#cache.get(word);
    if (cached) return cached;
    if (word === SOT_TEXT || word === EOT_TEXT) {
      return [word === SOT_TEXT ? this.sotToken : this.eotToken];
    }
    const bytes = this.#utf8.encode(word);
    const n = bytes.length;
    let syms: number[] = new Array<number>(n);
    for (let i = 0; i < n - 1; i++) syms[i] = this.#byteId[bytes[i]];
    syms[n - 1] = this.#byteEndId[bytes[n - 1]];
    const size = this.vocabSize;
    while (syms.length > 1) {
      // The pair of lowest rank; a pair has one rank, so its first occurrence is found.
      let best = Infinity, at = -1;
      for (let i = 0; i < syms.length - 1; i++) {
        const m = this.#merges.get(syms[i] * size + syms[i + 1]);
        if (m !== undefined && m < best) {
          best = m;
          at = i;
        }
      }
      if (at < 0) break;
      const first = syms[at], second = syms[at + 1], merged = best % 65536;
      // Merge every occurrence left to right, without overlap.
      const out = syms.slice(0, at);
      for (let i = at; i < syms.length;) {
        if (i < syms.length - 1 && syms[i] === first && syms[i + 1] === second) {
          out.push(merged);
          i += 2;
        } else {
          out.push(syms[i++]);
        }
      }
      syms = out;
    }
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(word, syms);
    return syms;
  }

  /** BPE ids of `text`, without SOT/EOT (simple_tokenizer.py's `encode`). */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const word of splitWords(cleanText(text))) {
      for (const id of this.#word(word)) ids.push(id);
    }
    return ids;
  }

  /**
   * Tokenizes one text or a batch into rows of `contextLength` ids: SOT, the BPE ids, EOT, then
   * 0-padding. A text longer than the context keeps its first `contextLength - 1` ids + EOT (with
   * `truncate: true`, the default) or throws (`truncate: false`).
   */
  tokenize(
    texts: string | readonly string[],
    contextLength = 77,
    { truncate = true }: TokenizeOptions = {},
  ): TokenizedBatch {
    if (!Number.isInteger(contextLength) || contextLength < 1) {
      throw new RangeError(`contextLength must be a positive integer, got ${contextLength}`);
    }
    const list = typeof texts === "string" ? [texts] : texts;
    const out = new Int32Array(list.length * contextLength);
    for (let r = 0; r < list.length; r++) {
      const ids = [this.sotToken, ...this.encode(list[r]), this.eotToken];
      if (ids.length > contextLength) {
        if (!truncate) {
          throw new Error(
            `text ${r} is too long for context length ${contextLength} ` +
              `(${ids.length} tokens with SOT/EOT): ${JSON.stringify(list[r].slice(0, 60))}`,
          );
        }
        ids.length = contextLength;
        ids[contextLength - 1] = this.eotToken;
      }
      out.set(ids, r * contextLength);
    }
    return { ids: out, shape: [list.length, contextLength] };
  }

  /**
   * Text of `ids` (simple_tokenizer.py's `decode`: bytes decoded as UTF-8 with replacement, every
   * "</w>" → " ").
   */
  decode(
    ids: ArrayLike<number> | Iterable<number>,
    { skipSpecialTokens = false }: DecodeOptions = {},
  ): string {
    const bytes: number[] = [];
    for (const id of Array.from(ids as ArrayLike<number>)) {
      if (skipSpecialTokens) {
        if (id === this.eotToken) break;
        if (id === this.sotToken) continue;
      }
      const token = Number.isInteger(id) && id >= 0 ? this.#decoder[id] : undefined;
      if (!token) {
        throw new RangeError(`decode: id ${id} is not in the vocabulary (${this.source})`);
      }
      for (const c of token) {
        const b = this.#byteDecoder.get(c);
        if (b === undefined) {
          throw new Error(`decode: token ${JSON.stringify(token)} has a non-byte character ${c}`);
        }
        bytes.push(b);
      }
    }
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(new Uint8Array(bytes)).replaceAll(
      END_OF_WORD,
      " ",
    );
  }

  /** The token string of an id (byte-level characters), or undefined. */
  idToToken(id: number): string | undefined {
    return this.#decoder[id] || undefined;
  }

  /**
   * An HF-style CLIP tokenizer.json object (normalizer, split pre-tokenizer, byte level, BPE with
   * "</w>", SOT/EOT post-processor) holding this vocabulary and these merges.
   */
  toTokenizerJson(): Record<string, unknown> {
    const vocab: Record<string, number> = {};
    this.#decoder.forEach((t, id) => {
      if (t) vocab[t] = id;
    });
    const merges: [string, string, number][] = [];
    for (const [pair, m] of this.#merges) {
      const a = Math.floor(pair / this.vocabSize), b = pair % this.vocabSize;
      merges.push([this.#decoder[a], this.#decoder[b], Math.floor(m / 65536)]);
    }
    merges.sort((x, y) => x[2] - y[2]);
    const special = (id: number, content: string) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    });
    return {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [special(this.sotToken, SOT_TEXT), special(this.eotToken, EOT_TEXT)],
      normalizer: {
        type: "Sequence",
        normalizers: [
          { type: "NFC" },
          { type: "Replace", pattern: { Regex: "\\s+" }, content: " " },
          { type: "Lowercase" },
        ],
      },
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [
          {
            type: "Split",
            pattern: {
              Regex:
                "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            },
            behavior: "Removed",
            invert: true,
          },
          { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      },
      post_processor: {
        type: "RobertaProcessing",
        sep: [EOT_TEXT, this.eotToken],
        cls: [SOT_TEXT, this.sotToken],
        trim_offsets: false,
        add_prefix_space: false,
      },
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: EOT_TEXT,
        continuing_subword_prefix: "",
        end_of_word_suffix: END_OF_WORD,
        fuse_unk: false,
        byte_fallback: false,
        vocab,
        merges: merges.map(([a, b]) => `${a} ${b}`),
      },
    };
  }
}
