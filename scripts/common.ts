// Helpers shared by the entry points.

import { ClipTokenizer } from "../src/clip/tokenizer.ts";

/**
 * The tokenizer for a model: `--vocab` (an OpenAI .txt.gz, or a folder with tokenizer.json or
 * vocab.json + merges.txt), else the model folder itself.
 */
export async function loadTokenizer(modelDir: string, vocab?: string): Promise<ClipTokenizer> {
  const from = vocab ?? modelDir;
  try {
    if (from.endsWith(".gz")) return await ClipTokenizer.fromOpenAIVocab(from);
    return await ClipTokenizer.fromDir(from);
  } catch (e) {
    const hint = vocab ? "" : " (pass --vocab PATH: bpe_simple_vocab_16e6.txt.gz or a folder " +
      "with tokenizer.json, or vocab.json + merges.txt)";
    throw new Error(`no tokenizer for ${from}: ${(e as Error).message}${hint}`);
  }
}
