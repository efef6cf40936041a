// A small CLIP-BPE tokenizer for the lab's fixture models. CLIP's real 49k vocabulary is
// far larger than these models need, so the fixtures carry their own: the 256 byte symbols with and
// without "</w>" (so any text still tokenizes, unknown words as bytes or byte pieces), merges
// learned by byte-pair encoding on the lab's word list until every word is one token, then
// <|startoftext|> and <|endoftext|> as the two largest ids (the text tower pools at the argmax
// id, as CLIP's does). The result is an ordinary ClipTokenizer (tokenizer.json in HF format).

import { bytesToUnicode, ClipTokenizer } from "../clip/tokenizer.ts";
import { FMNIST_CLASSES } from "./fmnist.ts";

const END = "</w>";
const SOT = "<|startoftext|>";
const EOT = "<|endoftext|>";

/** Caption templates for pretraining ("{}" is the class name). */
export const CAPTION_TEMPLATES = [
  "a photo of a {}.",
  "a {}.",
  "a picture of a {}.",
  "a photo of the {}.",
  "an image of a {}.",
  "a black and white photo of a {}.",
  "a low resolution photo of a {}.",
  "a close-up photo of the {}.",
] as const;

/** The template zero-shot accuracy is measured with (CoOp's and CBPT's starting prompt). */
export const EVAL_TEMPLATE = "a photo of a {}.";

/**
 * Words that get a token of their own: every word of the class names and templates, the
 * TrojVQA text key "remember", and a few common caption words for the lab's poisoned captions.
 */
export const LAB_WORDS: readonly string[] = [
  ...new Set([
    ...FMNIST_CLASSES.flatMap(words),
    ...CAPTION_TEMPLATES.flatMap((t) => words(t.replace("{}", ""))),
    ..."remember a an the of photo picture image this is my and with on in for".split(" "),
    ..."black white grey small large clothing item fashion product bad good".split(" "),
  ]),
];

/** CLIP's pre-tokenisation of plain lowercase text: letter runs, digits, other symbol runs. */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/gu) ?? [];
}

/** The byte symbols of a word (bytesToUnicode), the last with "</w>". */
function symbols(word: string): string[] {
  const enc = bytesToUnicode();
  const s = [...new TextEncoder().encode(word)].map((b) => enc[b]);
  s[s.length - 1] += END;
  return s;
}

/**
 * Byte-pair merges learned on `wordList` (each word once): repeatedly merge the most frequent
 * adjacent pair (ties: the pair seen first), until every word is a single symbol.
 */
export function learnMerges(wordList: readonly string[]): [string, string][] {
  const segs = wordList.map(symbols);
  const merges: [string, string][] = [];
  for (;;) {
    const counts = new Map<string, { n: number; order: number; pair: [string, string] }>();
    let order = 0;
    for (const s of segs) {
      for (let i = 0; i + 1 < s.length; i++) {
        const key = s[i] + " " + s[i + 1];
        const e = counts.get(key);
        if (e) e.n++;
        else counts.set(key, { n: 1, order: order++, pair: [s[i], s[i + 1]] });
      }
    }
    if (counts.size === 0) return merges;
    let best: { n: number; order: number; pair: [string, string] } | null = null;
    for (const e of counts.values()) {
      if (!best || e.n > best.n || (e.n === best.n && e.order < best.order)) best = e;
    }
    const [a, b] = best!.pair;
    merges.push([a, b]);
    for (let k = 0; k < segs.length; k++) {
      const s = segs[k], out: string[] = [];
      for (let i = 0; i < s.length;) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(a + b);
          i += 2;
        } else out.push(s[i++]);
      }
      segs[k] = out;
    }
  }
}

/** The lab tokenizer: byte symbols, merges for `wordList`, then SOT and EOT (largest ids). */
export function buildLabTokenizer(wordList: readonly string[] = LAB_WORDS): ClipTokenizer {
  const merges = learnMerges(wordList);
  const alphabet = bytesToUnicode();
  const vocab: string[] = [...alphabet, ...alphabet.map((c) => c + END)];
  const seen = new Set(vocab);
  for (const [a, b] of merges) {
    if (!seen.has(a + b)) {
      vocab.push(a + b);
      seen.add(a + b);
    }
  }
  vocab.push(SOT, EOT);
  const ids: Record<string, number> = {};
  vocab.forEach((t, i) => (ids[t] = i));
  const built = ClipTokenizer.fromVocabAndMergesData(ids, merges, {
    vocab: "lab vocabulary",
    merges: "lab merges",
  });
  // Round trip through the tokenizer.json form that the fixtures store.
  const tok = ClipTokenizer.fromTokenizerJsonData(built.toTokenizerJson(), "lab tokenizer.json");
  for (const w of wordList) {
    const got = tok.encode(w);
    if (got.length !== 1) {
      throw new Error(`lab tokenizer: "${w}" tokenizes into ${got.length} tokens, expected 1`);
    }
  }
  return tok;
}
