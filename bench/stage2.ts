// Stage 2's host work: the demo recipe (full batches, so one step per epoch) on a lab fixture,
// reading losses back every step and checkpointing every epoch (the baseline) against the
// batched default (16 steps per sync, a checkpoint at most every 10 s). Runs alternate in one
// process; prints seconds per run and the ratio.
//
// Usage: deno run -A bench/stage2.ts [--fixture badnet] [--epochs 200] [--rounds 2]

import { parseFlags } from "../src/cli/common.ts";
import { runWithGpu } from "../mod.ts";
import { DEMO_TUNE, loadFixture } from "../src/lab/demo.ts";
import { initialContext, promptTokens } from "../src/cbpt/prompts.ts";
import { TUNE_DEFAULTS, type TuneIO, tunePrompts } from "../src/cbpt/tune.ts";
import { ONE_TEMPLATE } from "../src/clip/templates.ts";
import { zeroShotClassifier } from "../src/clip/zeroshot.ts";

const { values } = parseFlags({
  args: Deno.args,
  options: {
    fixture: { type: "string", default: "badnet" },
    epochs: { type: "string", default: "200" },
    rounds: { type: "string", default: "2" },
  },
});

await runWithGpu(async () => {
  const fx = await loadFixture(values.fixture);
  const { clip, tokenizer, classNames } = fx;
  const text0 = zeroShotClassifier(clip, tokenizer, classNames, ONE_TEMPLATE);
  const tokens = promptTokens(tokenizer, classNames, 16, clip.config.contextLength);
  const init = await initialContext(clip, tokenizer, classNames.length, 16, "random", 1);
  // A zero additive trigger: stage 1 is not what this measures, and the cost does not depend on it.
  const trigger = {
    kind: "additive" as const,
    size: fx.train.set.size,
    epsilon: 16 / 255,
    delta: new Float32Array(3 * fx.train.set.size ** 2),
  };
  const s = { ...TUNE_DEFAULTS, ...DEMO_TUNE, epochs: Number(values.epochs) };
  const dir = await Deno.makeTempDir();
  const variants: [string, TuneIO][] = [
    ["every step, checkpoint every epoch", { readEvery: 1, checkpointEveryMs: 0 }],
    ["batched (default)", {}],
  ];
  const times = new Map<string, number[]>();
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const [name, io] of variants) {
      const ck = `${dir}/ck.safetensors`;
      await Deno.remove(ck).catch(() => {});
      const out = await tunePrompts(
        clip,
        tokens,
        text0,
        init,
        fx.train.set,
        fx.train.labels,
        trigger,
        fx.record.targetIndex,
        s,
        1,
        { ...io, checkpoint: ck },
      );
      times.set(name, [...(times.get(name) ?? []), out.seconds]);
      console.log(`${name}: ${out.seconds.toFixed(1)} s (${s.epochs} epochs)`);
    }
  }
  const best = (n: string) => Math.min(...times.get(n)!);
  const [base, batched] = variants.map(([n]) => best(n));
  console.log(
    `fastest: baseline ${base.toFixed(1)} s, batched ${batched.toFixed(1)} s: ` +
      `${(base / batched).toFixed(2)}x`,
  );
  text0.dispose();
  await Deno.remove(dir, { recursive: true });
});
