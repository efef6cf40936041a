// The CLIPs other code made (tools/torch-family: upstream openai/CLIP in PyTorch, HF layout, the
// real BPE vocabulary) classify the fixture test set as PyTorch did when it saved them: one
// check per family, so a loader that misreads another size (family3: 6 layers, patch 7, embed 96)
// fails here rather than as a scan that quietly names the wrong class.

import assert from "node:assert/strict";
import { join } from "node:path";
import { initGpu, loadClip } from "../mod.ts";
import { loadTokenizer } from "../src/cli/common.ts";
import { fixturesDir } from "../src/lab/demo.ts";
import { loadFixtureSet } from "../src/lab/fixtures.ts";
import { accuracy, zeroShotPredict } from "../src/lab/train.ts";

await initGpu();

for (const family of ["family2", "family3"]) {
  Deno.test(`${family}/clean: zero-shot CA on the test set is the one PyTorch recorded`, async () => {
    const dir = join(fixturesDir(), family, "clean");
    const rec = JSON.parse(await Deno.readTextFile(join(dir, "backdoor.json")));
    const clip = await loadClip(dir);
    try {
      const tokenizer = await loadTokenizer(dir, undefined, clip.config.vocabSize);
      const R = clip.config.imageResolution, m = 3 * R * R;
      const set = await loadFixtureSet(join(fixturesDir(), "data", "test.safetensors"), R);
      const preds = await zeroShotPredict(clip, tokenizer, set.classNames, set.n, (s, n) => ({
        pixels01: set.images01.slice(s * m, (s + n) * m),
        channels: 3,
      }), { template: rec.evalTemplate });
      const ca = accuracy(preds, set.labels);
      // backdoor.json rounds to 0.001, one image of the 1,000.
      assert.ok(Math.abs(ca - rec.ca) <= 0.001 + 1e-9, `CA ${ca}, PyTorch ${rec.ca}`);
    } finally {
      clip.dispose();
    }
  });
}
