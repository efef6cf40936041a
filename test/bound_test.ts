// The free-head bound (src/lab/bound.ts) on synthetic features whose answer is known.

import assert from "node:assert/strict";
import { type Features, freeHeadBound } from "../src/lab/bound.ts";
import { rng } from "./helpers.ts";

const D = 8, C = 3, TARGET = 0, BACKDOOR = 7;

/** n features per class: normalize(a·e_c + b·e_target + 0.3·e_7 + noise); b = 0 for clean. */
function features(n: number, a: number, b: number, seed: number): Features {
  const r = rng(seed);
  const data = new Float32Array(n * C * D), labels: number[] = [];
  for (let i = 0; i < n * C; i++) {
    const c = i % C;
    labels.push(c);
    const v = Array.from({ length: D }, () => 0.05 * r.uniform(-0.5, 0.5));
    v[c] += a;
    if (b) {
      v[TARGET] += b;
      v[BACKDOOR] += 0.3;
    }
    const norm = Math.hypot(...v);
    v.forEach((x, k) => (data[i * D + k] = x / norm));
  }
  return { data, dim: D, labels };
}

Deno.test("free-head bound: finds the head that undoes a backdoor when class information is kept", () => {
  const trainClean = features(16, 1, 0, 1), testClean = features(50, 1, 0, 2);
  // Triggered: mostly the target's direction, but the class and a backdoor direction remain.
  const trainTrig = features(16, 0.3, 0.9, 3), testTrig = features(50, 0.3, 0.9, 4);
  const args = [trainClean, trainTrig, testClean, testTrig, C, TARGET] as const;
  const blind = freeHeadBound(...args, { lambdaBd: 0 });
  assert.ok(
    blind.asr > 0.9,
    `a head fitted on clean features only keeps the backdoor: ${blind.asr}`,
  );
  const bound = freeHeadBound(...args);
  assert.ok(bound.ca >= 0.95, `CA ${bound.ca}`);
  assert.ok(bound.asr <= 0.05, `ASR ${bound.asr}`);
  assert.ok(bound.triggeredAcc >= 0.95, `triggered accuracy ${bound.triggeredAcc}`);
  for (let c = 0; c < C; c++) {
    const w = bound.head.subarray(c * D, (c + 1) * D);
    assert.ok(Math.abs(Math.hypot(...w) - 1) < 1e-5, "class vectors are unit length");
  }
});

Deno.test("free-head bound: collapsed triggered features cannot all go back to their class", () => {
  const trainClean = features(16, 1, 0, 1), testClean = features(50, 1, 0, 2);
  // a = 0: every triggered image lands on the same point whatever its class.
  const bound = freeHeadBound(
    trainClean,
    features(16, 0, 0.9, 3),
    testClean,
    features(50, 0, 0.9, 4),
    C,
    TARGET,
  );
  assert.ok(bound.triggeredAcc < 0.5, `triggered accuracy ${bound.triggeredAcc}`);
  assert.throws(
    () => freeHeadBound(trainClean, { ...testClean, dim: 4 }, testClean, testClean, C, TARGET),
    /feature sizes differ/,
  );
});
