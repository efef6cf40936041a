// The free-head bound of a backdoored fixture: the best CA/ASR that any text-side defence (CBPT,
// CoOp) could reach with the fixture's own trigger, from its 16-shot set (src/lab/bound.ts). A
// large bound means the backdoor left too little class information in triggered features for
// prompts to undo; a small one that a better prompt search could get there.
//
//   deno run -A scripts/head-bound.ts [--fixture blended,sig] [--fixtures DIR] [--json]

import { parseArgs } from "node:util";
import { ATTACK_NAMES } from "../src/attacks/index.ts";
import { fixturesDir, loadFixture } from "../src/cbpt/demo.ts";
import { type ImageSet, normalizeOnGpu } from "../src/cbpt/images.ts";
import type { Clip } from "../src/clip/model.ts";
import { type Features, freeHeadBound } from "../src/lab/bound.ts";
import { l2Normalize, noGrad, runWithGpu, Tensor, tidy } from "../mod.ts";

/** L2-normalised image features of a set, in chunks. */
export async function imageFeatures(
  clip: Clip,
  set: ImageSet,
  labels: readonly number[],
): Promise<Features> {
  const R = set.size, m = 3 * R * R, chunk = 64;
  const E = clip.config.embedDim;
  const data = new Float32Array(set.n * E);
  for (let s = 0; s < set.n; s += chunk) {
    const n = Math.min(chunk, set.n - s);
    const f = noGrad(() =>
      tidy(() => {
        const x = Tensor.from(set.pixels.subarray(s * m, (s + n) * m), [n, 3, R, R]);
        return l2Normalize(clip.encodeImage(normalizeOnGpu(x)));
      })
    ).keep();
    data.set(await f.toArray(), s * E);
    f.dispose();
  }
  return { data, dim: E, labels };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      fixture: { type: "string" },
      fixtures: { type: "string" },
      json: { type: "boolean" },
    },
  });
  await runWithGpu(async () => {
    const dir = values.fixtures ?? fixturesDir();
    const names = values.fixture ? values.fixture.split(",") : [...ATTACK_NAMES];
    for (const name of names) {
      const fx = await loadFixture(name, dir);
      const t0 = performance.now();
      const feats = async (d: { set: ImageSet; labels: number[] }) =>
        [
          await imageFeatures(fx.clip, d.set, d.labels),
          await imageFeatures(fx.clip, fx.attack.apply(d.set), d.labels),
        ] as const;
      const [trainClean, trainTrig] = await feats(fx.train);
      const [testClean, testTrig] = await feats(fx.test);
      const b = freeHeadBound(
        trainClean,
        trainTrig,
        testClean,
        testTrig,
        fx.classNames.length,
        fx.record.targetIndex,
      );
      const row = {
        fixture: name,
        ca: b.ca,
        asr: b.asr,
        triggered_acc: b.triggeredAcc,
        seconds: (performance.now() - t0) / 1000,
      };
      if (values.json) console.log(JSON.stringify(row));
      else {
        console.log(
          `${name.padEnd(8)} free-head bound: CA ${(100 * b.ca).toFixed(1)} %, ASR ${
            (100 * b.asr).toFixed(1)
          } %, triggered images in their class ${(100 * b.triggeredAcc).toFixed(1)} % ` +
            `(${row.seconds.toFixed(1)} s)`,
        );
      }
      fx.clip.dispose();
    }
  });
}
