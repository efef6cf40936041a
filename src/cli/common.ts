// Helpers shared by the entry points.

import { parseArgs, type ParseArgsConfig } from "node:util";
import { BUNDLED_VOCAB, ClipTokenizer } from "../clip/tokenizer.ts";
import type { Progress } from "../cbpt/progress.ts";

/**
 * The tokenizer for a model: `--vocab` (an OpenAI .txt.gz, or a folder with tokenizer.json or
 * vocab.json + merges.txt), else the model folder itself, else — for a model with CLIP's own
 * 49,408-token vocabulary (OpenAI/open_clip state dicts, HF folders without tokenizer files) —
 * the BPE vocabulary shipped with Antidote. With `modelVocabSize`, a tokenizer of another size
 * is refused naming both sizes (its ids would index past the model's embedding table).
 */
export async function loadTokenizer(
  modelDir: string,
  vocab?: string,
  modelVocabSize?: number,
): Promise<ClipTokenizer> {
  const from = vocab ?? modelDir;
  let tok: ClipTokenizer;
  try {
    if (from.endsWith(".gz")) tok = await ClipTokenizer.fromOpenAIVocab(from);
    else tok = await ClipTokenizer.fromDir(from);
  } catch (e) {
    if (!vocab && modelVocabSize === 49408) {
      console.error(`tokenizer: none beside ${modelDir}; using CLIP's BPE vocabulary (bundled)`);
      tok = await ClipTokenizer.fromOpenAIVocab(BUNDLED_VOCAB);
    } else {
      const hint = vocab ? "" : " (pass --vocab PATH: bpe_simple_vocab_16e6.txt.gz or a folder " +
        "with tokenizer.json, or vocab.json + merges.txt)";
      throw new Error(`no tokenizer for ${from}: ${(e as Error).message}${hint}`);
    }
  }
  if (modelVocabSize !== undefined && tok.vocabSize !== modelVocabSize) {
    throw new Error(
      `tokenizer ${tok.source} has ${tok.vocabSize} tokens but the model ${modelDir} has ` +
        `${modelVocabSize}: pass --vocab with the model's own vocabulary`,
    );
  }
  return tok;
}

/**
 * node:util's parseArgs, but a bad command line (an unknown flag, a missing value, a value given
 * to a switch) prints one line naming the flag and exits 2 instead of throwing a stack trace.
 */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    const msg = (e as Error).message.replace(/\s*\n\s*/g, " ");
    console.error(`error: ${msg} (--help lists the flags)`);
    Deno.exit(2);
  }
}

/** A warning or note for the person at the terminal: one line on stderr. */
export const warnLine = (line: string): void => console.error(line);

/** A Progress that prints at most every `everyMs` (and always the last line) to stderr. */
export function stderrProgress(everyMs = 1000): Progress {
  let last = 0;
  return (line, done) => {
    const now = performance.now();
    if (done || now - last >= everyMs) {
      last = now;
      console.error(line);
    }
  };
}

/**
 * A whole-number flag within [min, max], checked before any work: a bad value is one line
 * naming the flag and exit 2.
 */
export function wholeFlag(
  name: string,
  v: string | undefined,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!Number.isInteger(x) || x < min || x > max) {
    console.error(`error: --${name} ${v}: expected a whole number in [${min}, ${max}]`);
    Deno.exit(2);
  }
  return x;
}
