// Figures a person can read: the loss plot has labelled axes with round ticks, and the results
// chart keeps its legend clear of the bars.

import assert from "node:assert/strict";
import { lossPlotSvg, niceTicks } from "../src/cbpt/plot.ts";
import { progressLine } from "../src/cbpt/progress.ts";
import { type ResultRow, resultsChartSvg } from "../src/lab/results.ts";

Deno.test("niceTicks: round steps of 1, 2 or 5 times a power of ten, within the range", () => {
  assert.deepEqual(niceTicks(0, 3.7), [0, 1, 2, 3]);
  assert.deepEqual(niceTicks(1, 600, 4), [200, 400, 600]);
  assert.deepEqual(niceTicks(0.01, 0.05), [0.01, 0.02, 0.03, 0.04, 0.05]);
  assert.deepEqual(niceTicks(2, 2), [2]);
});

Deno.test("lossPlotSvg: both panels have a y label, tick values and an x label", () => {
  const svg = lossPlotSvg([3, 2, 1.5, 1], [
    { epoch: 1, total: 2, clean: 1, bd: 0.5, third: 0.1 },
    { epoch: 2, total: 1, clean: 0.5, bd: 0.3, third: 0.1 },
  ]);
  assert.equal(svg.match(/>loss<\/text>/g)?.length, 2);
  assert.match(svg, />step<\/text>/);
  assert.match(svg, />epoch<\/text>/);
  assert.match(svg, /text-anchor="end">3<\/text>/, "a y tick at 3");
});

Deno.test("resultsChartSvg: the legend sits right of every bar", () => {
  const row = (attack: string, defence: string): ResultRow => ({
    attack,
    defence,
    target: "bag",
    seeds: 1,
    ca_mean: 0.8,
    ca_std: 0,
    asr_mean: 1,
    asr_std: 0,
    ca: [0.8],
    asr: [1],
    seconds: 1,
    settings: {},
  });
  const rows = ["badnet", "blended", "badclip"].flatMap((a) =>
    ["none", "cbpt", "coop", "finetune"].map((d) => row(a, d))
  );
  const svg = resultsChartSvg(rows);
  const right = (s: string) => {
    const [x, w] = [/x="([\d.]+)"/.exec(s)![1], /width="([\d.]+)"/.exec(s)![1]].map(Number);
    return x + w;
  };
  const bars = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height[^>]*>/g)]
    .map((m) => m[0]).filter((r) => !r.includes('width="10" height="10"')).map(right);
  const legendX = Math.min(
    ...[...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="10" height="10"/g)].map((m) =>
      Number(m[1])
    ),
  );
  assert.ok(bars.length >= 12, `${bars.length} bars`);
  assert.ok(Math.max(...bars) < legendX, `bars reach ${Math.max(...bars)}, legend at ${legendX}`);
});

Deno.test("progressLine: the ETA leaves out the slow first step ('estimating' until a second)", () => {
  const t0 = performance.now() - 30_000; // the first step took 30 s (kernel compilation)
  const first = progressLine("stage", 1, 100, 1.5, t0)[0];
  assert.match(first, /step 1\/100 {2}loss 1\.5000 {2}30\.0 s {2}ETA estimating$/);
  const second = progressLine("stage", 2, 100, 1.4, t0)[0];
  // Steps after the first are fast: the estimate is seconds, not 98 × 30 s.
  const eta = Number(/ETA (\d+) s$/.exec(second)![1]);
  assert.ok(eta < 60, second);
  assert.deepEqual(progressLine("stage", 100, 100, null, t0)[1], true);
});

Deno.test("progressLine: steps read back together (16 a line) get the pace between read-backs", () => {
  // 20 s a step on a large model; the losses of 16 steps come back in one sync, one line each.
  const t0 = 1_000, at = (s: number) => t0 + 20_000 * s;
  const eta = (line: string) => Number(/ETA (\d+) s$/.exec(line)?.[1] ?? NaN);
  const within = (got: number, want: number) =>
    assert.ok(got >= want / 1.5 && got <= want * 1.5, `ETA ${got} s, want ~${want} s`);
  // The first line (step 16): the pace so far, 20 s a step, for the 112 steps left.
  within(eta(progressLine("stage", 16, 128, 2, t0, "", at(16))[0]), 112 * 20);
  // The next read-back: 16 steps in 320 s.
  within(eta(progressLine("stage", 32, 128, 2, t0, "", at(32))[0]), 96 * 20);
  within(eta(progressLine("stage", 48, 128, 2, t0, "", at(48))[0]), 80 * 20);
  progressLine("stage", 128, 128, 2, t0, "", at(128));
});
