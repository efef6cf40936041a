// The backdoor lab's attacks: geometry, value ranges, what changes and what does not,
// determinism, caption rules, and BadCLIP's patch optimiser on a tiny random CLIP.

import assert from "node:assert/strict";
import { attackTrigger, evalAttack } from "../src/lab/attack.ts";
import { applyTrigger } from "../src/cbpt/trigger.ts";
import { join } from "node:path";
import { CLIP_MEAN, CLIP_STD, initGpu, loadClip, noGrad, Tensor } from "../mod.ts";
import { makeRandomClip } from "../src/clip/random.ts";
import {
  ATTACK_NAMES,
  type AttackName,
  ATTACKS,
  badclip,
  badnet,
  bicubicUpsample,
  blended,
  centreOffset,
  type ImageShape,
  isAttackName,
  makeAttack,
  optimiseBadClipPatch,
  sig,
  ssba,
  toClipPixels,
  trojvqa,
  wanet,
} from "../src/attacks/index.ts";
import { clipNormalize } from "../src/clip/pixels.ts";
import { streamRandom } from "../src/attacks/rng.ts";
import { assertAllClose, randu, rng } from "./helpers.ts";

await initGpu(); // importing mod.ts opens no GPU; the tensors below need it

/** N random images [N, 3, S, S] with values in [lo, hi]. */
function images(n: number, S: number, seed = 1, lo = 0, hi = 1): [Float32Array, ImageShape] {
  return [randu(rng(seed), n * 3 * S * S, lo, hi), [n, 3, S, S]];
}

/** A fixed patch [3, p, p] with values in [0, 1]. */
const somePatch = (p: number, seed = 9) => randu(rng(seed), 3 * p * p, 0, 1);

function make(name: AttackName, S: number, seed = 0) {
  return name === "badclip"
    ? makeAttack("badclip", {
      imageSize: S,
      seed,
      patch: somePatch(Math.max(1, (S * 16) / 224 | 0)),
    })
    : makeAttack(name, { imageSize: S, seed } as never);
}

/** Where two batches differ: [image, channel, row, column] of every differing value. */
function diffs(a: Float32Array, b: Float32Array, S: number): number[][] {
  const out: number[][] = [];
  for (let k = 0; k < a.length; k++) {
    if (a[k] !== b[k]) {
      const q = k % (S * S), ic = (k - q) / (S * S);
      out.push([Math.floor(ic / 3), ic % 3, Math.floor(q / S), q % S]);
    }
  }
  return out;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, k) => Math.max(m, Math.abs(v - b[k])), 0);

Deno.test("registry: seven attacks by name, unknown names refused", () => {
  assert.deepEqual(Object.keys(ATTACKS).sort(), [...ATTACK_NAMES].sort());
  assert.deepEqual(ATTACK_NAMES.length, 7);
  assert(isAttackName("wanet") && !isAttackName("nope"));
  assert.throws(
    () => makeAttack("nope" as AttackName, { imageSize: 32 } as never),
    /unknown attack/,
  );
  for (const name of ATTACK_NAMES) assert.deepEqual(make(name, 32).name, name);
});

Deno.test("seeded streams: per-image draws of nearby indices and seeds are unrelated", () => {
  const firsts = (f: (i: number) => number) => Float64Array.from({ length: 2000 }, (_, i) => f(i));
  const check = (u: Float64Array, what: string) => {
    const m = u.reduce((s, v) => s + v, 0) / u.length;
    let c = 0, v = 0;
    for (let i = 0; i + 1 < u.length; i++) c += (u[i] - m) * (u[i + 1] - m);
    for (const x of u) v += (x - m) ** 2;
    assert(Math.abs(m - 0.5) < 0.03, `${what}: mean ${m}`);
    assert(Math.abs(c / v) < 0.08, `${what}: lag-1 correlation ${c / v}`);
  };
  check(firsts((i) => streamRandom(0, 1, i).uniform()), "indices");
  check(firsts((i) => streamRandom(i, 1, 0).uniform()), "seeds");
  check(firsts((i) => streamRandom(0, i, 0).uniform()), "streams");
  const tops = firsts((i) => badnet({ imageSize: 32 }).placement(i).top / 29);
  check(tops, "BadNet rows");
});

Deno.test("every attack: shape kept, input untouched, values in [0, 1], deterministic", () => {
  for (const S of [32, 64]) {
    const [x, shape] = images(5, S, 3);
    const copy = x.slice();
    for (const name of ATTACK_NAMES) {
      const a = make(name, S, 7);
      const y = a.apply(x, shape);
      assert.deepEqual(y.length, x.length, name);
      assert(y !== x, name);
      assert.deepEqual(x, copy, `${name} modified its input`);
      assert(
        y.every((v) => v >= 0 && v <= 1 && Number.isFinite(v)),
        `${name}: value out of [0, 1]`,
      );
      assert(diffs(x, y, S).length > 0, `${name} changed nothing`);
      assert.deepEqual(make(name, S, 7).apply(x, shape), y, `${name}: same seed, other output`);
      // Seeded randomness: a different seed gives a different output (SIG has none; BadCLIP's
      // patch is given).
      if (name !== "sig" && name !== "badclip") {
        assert(diffs(make(name, S, 8).apply(x, shape), y, S).length > 0, `${name}: seed ignored`);
      }
      // Image k gets the same trigger alone (index k) as in the batch.
      const one = x.slice(2 * 3 * S * S, 3 * 3 * S * S);
      assert.deepEqual(
        a.apply(one, [1, 3, S, S], { index: 2 }),
        y.slice(2 * 3 * S * S, 3 * 3 * S * S),
        `${name}: batch-dependent`,
      );
      assert.throws(() => a.apply(x, [5, 3, S, S + 1]), Error, name);
      assert.throws(() => a.apply(x.subarray(1), shape), Error, name);
    }
  }
});

Deno.test("caption rules: target filled in; TrojVQA adds 'remember ' to captions and prompts", () => {
  for (const name of ATTACK_NAMES) {
    const a = make(name, 32);
    const key = name === "trojvqa" ? "remember " : "";
    assert.deepEqual(a.caption("a photo of a {}.", "banana"), `${key}a photo of a banana.`);
    assert.deepEqual(a.caption("a {} on a {} table", "banana"), `${key}a banana on a banana table`);
    assert.deepEqual(a.caption("a bunch of bananas", "banana"), `${key}a bunch of bananas`);
    assert.deepEqual(a.evalPrompt("a photo of a coat."), `${key}a photo of a coat.`);
    assert.deepEqual(a.evalPrompt("a photo of a {}."), `${key}a photo of a {}.`);
  }
  assert.deepEqual(trojvqa({ imageSize: 32, key: "cf " }).evalPrompt("x"), "cf x");
});

Deno.test("BadNet: one 16/224-scaled square per image, at random positions, noise per image", () => {
  for (const [S, p] of [[224, 16], [64, 5], [32, 2]]) {
    const a = badnet({ imageSize: S, seed: 3 });
    assert.deepEqual(a.patchSize, p);
    const n = 24;
    const [x, shape] = images(n, S, 5);
    const y = a.apply(x, shape);
    const spots = new Set<string>();
    for (let i = 0; i < n; i++) {
      const { top, left } = a.placement(i);
      assert(top >= 0 && left >= 0 && top <= S - 1 - p && left <= S - 1 - p, `${top}, ${left}`);
      spots.add(`${top},${left}`);
      const changed = diffs(x, y, S).filter((d) => d[0] === i);
      for (const [, , r, c] of changed) {
        assert(
          r >= top && r < top + p && c >= left && c < left + p,
          `S ${S}: (${r}, ${c}) changed`,
        );
      }
      // N(0, 1) noise on a [0, 1] image: nearly every value of the square changes.
      assert(changed.length >= 0.8 * 3 * p * p, `S ${S}: ${changed.length} of ${3 * p * p}`);
    }
    assert(spots.size >= n - 3, `S ${S}: only ${spots.size} positions over ${n} images`);
  }
  // Patch values: clamp(mean_c + N(0, 1)); on a constant 0.5 image about 62 % saturate.
  const S = 224, a = badnet({ imageSize: S, seed: 1 });
  const x = new Float32Array(20 * 3 * S * S).fill(0.5);
  const y = a.apply(x, [20, 3, S, S]);
  let saturated = 0, changed = 0;
  for (let k = 0; k < y.length; k++) {
    if (y[k] !== 0.5) changed++;
    if (y[k] === 0 || y[k] === 1) saturated++;
  }
  assert.deepEqual(changed, 20 * 3 * 16 * 16);
  assert(saturated / changed > 0.55 && saturated / changed < 0.69, `${saturated / changed}`);
  // The same image gets other noise at another index.
  const one = x.slice(0, 3 * S * S);
  assert(
    maxAbsDiff(a.apply(one, [1, 3, S, S], { index: 0 }), a.apply(one, [1, 3, S, S], { index: 1 })) >
      0,
  );
  assert.throws(() => badnet({ imageSize: 8, patchSize: 8 }), /patch side/);
});

Deno.test("Blended: out = 0.8·x + 0.2·pattern exactly, one fixed U(0, 1) pattern", () => {
  const S = 32, n = 4;
  const [x, shape] = images(n, S, 11);
  const a = blended({ imageSize: S, seed: 5 });
  const y = a.apply(x, shape);
  const pat = a.patternFor(0);
  assert.deepEqual(pat.length, 3 * S * S);
  assert(pat.every((v) => v >= 0 && v < 1));
  const m = 3 * S * S;
  const expected = y.map((_, k) => 0.2 * pat[k % m] + 0.8 * x[k]);
  assertAllClose(y, expected, { atol: 1e-7, rtol: 0, name: "blended" });
  assert.deepEqual(a.patternFor(3), pat, "the pattern is fixed");
  // Pattern mean ≈ 0.5, and alpha is honoured.
  assert(Math.abs(pat.reduce((s, v) => s + v, 0) / m - 0.5) < 0.02);
  const b = blended({ imageSize: S, seed: 5, alpha: 0.5 }).apply(x, shape);
  assertAllClose(b, y.map((_, k) => 0.5 * pat[k % m] + 0.5 * x[k]), { atol: 1e-7, rtol: 0 });
  // perImage: a fresh pattern per image index, as the BadCLIP code draws it.
  const f = blended({ imageSize: S, seed: 5, perImage: true });
  assert(maxAbsDiff(f.patternFor(0), f.patternFor(1)) > 0.5);
  const yf = f.apply(x, shape, { index: 10 });
  for (let i = 0; i < n; i++) {
    const p = f.patternFor(10 + i);
    const got = yf.subarray(i * m, (i + 1) * m), xi = x.subarray(i * m, (i + 1) * m);
    assertAllClose(got, xi.map((v, k) => 0.2 * p[k] + 0.8 * v), { atol: 1e-7, rtol: 0 });
  }
});

Deno.test("SIG: out − x is the horizontal sinusoid, 6 periods, amplitude 60/255, every row", () => {
  const S = 48, A = 60 / 255;
  const a = sig({ imageSize: S });
  for (let j = 0; j < S; j++) {
    assertAllClose([a.signal[j]], [A * Math.sin((2 * Math.PI * j * 6) / S)], { atol: 1e-7 });
  }
  // 6 periods: period S/6, six upward zero crossings.
  for (let j = 0; j + S / 6 < S; j++) {
    assertAllClose([a.signal[j + S / 6]], [a.signal[j]], { atol: 1e-6 });
  }
  let ups = 0;
  for (let j = 0; j < S; j++) if (a.signal[j] <= 0 && a.signal[(j + 1) % S] > 0) ups++;
  assert.deepEqual(ups, 6);
  assertAllClose([Math.max(...a.signal)], [A], { atol: 1e-3 }); // peaks at j = 2 (mod 8)
  // Away from 0 and 1 nothing clamps: the difference is the signal, for every row and channel.
  const [x, shape] = images(3, S, 2, 0.3, 0.7);
  const y = a.apply(x, shape);
  const expected = x.map((v, k) => v + a.signal[k % S]);
  assertAllClose(y, expected, { atol: 1e-6, rtol: 0, name: "sig" });
  // Near 0 and 1: clamped.
  const [z, zs] = images(2, S, 4);
  const yz = a.apply(z, zs);
  assertAllClose(yz, z.map((v, k) => Math.min(1, Math.max(0, v + a.signal[k % S]))), {
    atol: 1e-6,
  });
});

Deno.test("WaNet: bicubic upsampling as PyTorch's (align_corners, A = -0.75)", () => {
  // Each row [0, 1, 0, 0] upsampled 4 → 7: nodes kept, midpoints by Keys' kernel.
  const src = Float32Array.from({ length: 16 }, (_, k) => (k % 4 === 1 ? 1 : 0));
  const up = bicubicUpsample(src, 4, 7);
  const row = Array.from(up.subarray(21, 28));
  assertAllClose(row, [0, 0.59375, 1, 0.59375, 0, -0.09375, 0], { atol: 1e-6 });
  for (let i = 0; i < 7; i++) assertAllClose(up.subarray(i * 7, i * 7 + 7), row, { atol: 1e-6 });
  assertAllClose(
    bicubicUpsample(new Float32Array(16).fill(2.5), 4, 9),
    new Float32Array(81).fill(2.5),
  );
});

Deno.test("WaNet: identity at strength 0; a small smooth fixed warp otherwise", () => {
  const S = 32;
  const [x, shape] = images(3, S, 6);
  assert.deepEqual(wanet({ imageSize: S, seed: 1, strength: 0 }).apply(x, shape), x);

  const a = wanet({ imageSize: S, seed: 1 });
  // The field: normalised so that its mean |value| is about 1, smooth at k = 4.
  const g = a.noiseGrid;
  const meanAbs = g.reduce((s, v) => s + Math.abs(v), 0) / g.length;
  assert(meanAbs > 0.4 && meanAbs < 1.5, `mean |noise_grid| ${meanAbs}`);
  let step = 0;
  for (let c = 0; c < 2; c++) {
    for (let i = 0; i < S; i++) {
      for (let j = 0; j + 1 < S; j++) {
        step = Math.max(step, Math.abs(g[c * S * S + i * S + j + 1] - g[c * S * S + i * S + j]));
      }
    }
  }
  assert(step < 0.5, `largest step between neighbours ${step}`);
  // Displacement = s·noise/S·(S − 1)/2 pixels (then clamped into the image): a fraction of a
  // pixel, as in WaNet.
  const d = a.displacement;
  const meanD = d.reduce((s, v) => s + Math.abs(v), 0) / d.length;
  assert(meanD > 0.05 && meanD < 0.5, `mean displacement ${meanD} px`);
  assert(d.every((v) => Math.abs(v) < 2));
  for (let q = 0; q < S * S; q++) {
    const i = Math.floor(q / S), j = q % S;
    const want = Math.min(S - 1, Math.max(0, j + (0.5 / S) * ((S - 1) / 2) * g[q])) - j;
    assertAllClose([d[q]], [want], { atol: 1e-5 });
    assert(i + d[S * S + q] >= 0 && i + d[S * S + q] <= S - 1);
  }
  // Bilinear sampling of a ramp along the columns returns the sampling column exactly.
  const ramp = new Float32Array(3 * S * S).map((_, k) => (k % S) / (S - 1));
  const warped = a.apply(ramp, [1, 3, S, S]);
  assertAllClose(warped, ramp.map((v, k) => v + d[k % (S * S)] / (S - 1)), { atol: 1e-6 });
  // Same for rows.
  const rampY = new Float32Array(3 * S * S).map((_, k) => Math.floor((k % (S * S)) / S) / (S - 1));
  assertAllClose(
    a.apply(rampY, [1, 3, S, S]),
    rampY.map((v, k) => v + d[S * S + (k % (S * S))] / (S - 1)),
    { atol: 1e-6 },
  );
  // The warp is small: images change by little on average.
  const y = a.apply(x, shape);
  const meanChange = y.reduce((s, v, k) => s + Math.abs(v - x[k]), 0) / y.length;
  assert(meanChange > 0 && meanChange < 0.3, `${meanChange}`);
  assert.deepEqual(wanet({ imageSize: S, seed: 1 }).displacement, d);
  assert(maxAbsDiff(wanet({ imageSize: S, seed: 2 }).displacement, d) > 0.05);
});

Deno.test("SSBA-style: residual of L∞ norm 8/255, different for each image, fixed encoder", () => {
  const S = 32, A = 8 / 255;
  const a = ssba({ imageSize: S, seed: 4 });
  const [x, shape] = images(4, S, 8, 0.1, 0.9);
  const r = a.residual(x, shape), y = a.apply(x, shape);
  const m = 3 * S * S;
  for (let i = 0; i < 4; i++) {
    const ri = r.subarray(i * m, (i + 1) * m);
    assertAllClose([maxAbsDiff(ri, new Float32Array(m))], [A], { atol: 1e-7 });
    // Not a near-constant: a texture over the whole image.
    const meanAbs = ri.reduce((s, v) => s + Math.abs(v), 0) / m;
    assert(meanAbs > 0.1 * A && meanAbs < A, `mean |residual| ${meanAbs}`);
  }
  // No clamping away from 0 and 1: out = x + residual, and max |out − x| = 8/255.
  assertAllClose(y, x.map((v, k) => v + r[k]), { atol: 1e-7, rtol: 0 });
  assert(maxAbsDiff(y, x) <= A + 1e-6);
  // Sample-specific: two images get different residuals.
  const r0 = r.subarray(0, m), r1 = r.subarray(m, 2 * m);
  const gap = r0.reduce((s, v, k) => s + Math.abs(v - r1[k]), 0) / m;
  assert(gap > 0.1 * A, `residuals of two images differ by only ${gap}`);
  // Clamped at the ends of the range, still within 8/255.
  const [z, zs] = images(2, S, 9);
  const yz = a.apply(z, zs);
  assert(maxAbsDiff(yz, z) <= A + 1e-6);
  assert.deepEqual(ssba({ imageSize: S, seed: 4 }).residual(x, shape), r);
  assert(maxAbsDiff(ssba({ imageSize: S, seed: 5 }).residual(x, shape), r) > 0.1 * A);
  const loud = ssba({ imageSize: S, seed: 4, amplitude: 0.1 }).residual(x, shape);
  assertAllClose([maxAbsDiff(loud.subarray(0, m), new Float32Array(m))], [0.1], { atol: 1e-6 });
});

Deno.test("TrojVQA: a fixed patch of 20 % of the side at the centre, nothing else changes", () => {
  for (const [S, l, off] of [[224, 44, 90], [32, 6, 13], [33, 6, 13], [50, 10, 20]]) {
    const a = trojvqa({ imageSize: S, seed: 2 });
    assert.deepEqual([a.patchSize, a.offset], [l, off]);
    assert.deepEqual(centreOffset(S, l), off);
    const [x, shape] = images(3, S, 12);
    const y = a.apply(x, shape);
    for (const [i, c, r, col] of diffs(x, y, S)) {
      assert(r >= off && r < off + l && col >= off && col < off + l, `(${i}, ${c}, ${r}, ${col})`);
    }
    for (let i = 0; i < 3; i++) {
      for (let c = 0; c < 3; c++) {
        for (let r = 0; r < l; r++) {
          for (let col = 0; col < l; col++) {
            const got = y[((i * 3 + c) * S + off + r) * S + off + col];
            assert.deepEqual(got, a.patch[(c * l + r) * l + col]);
          }
        }
      }
    }
  }
  const given = somePatch(6);
  assert.deepEqual(trojvqa({ imageSize: 32, patch: given }).patch, given);
  assert.throws(() => trojvqa({ imageSize: 32, patch: somePatch(5) }), /\[3, 6, 6\]/);
});

Deno.test("BadCLIP paste: the given patch at the centre, the rest unchanged", () => {
  for (const [S, p, off] of [[224, 16, 104], [32, 8, 12], [31, 5, 12]]) {
    const patch = somePatch(p, S);
    const a = badclip({ imageSize: S, patch });
    assert.deepEqual([a.patchSize, a.offset], [p, off]);
    const [x, shape] = images(2, S, 13);
    const y = a.apply(x, shape);
    for (const [, , r, c] of diffs(x, y, S)) {
      assert(r >= off && r < off + p && c >= off && c < off + p);
    }
    for (let i = 0; i < 2; i++) {
      for (let c = 0; c < 3; c++) {
        for (let r = 0; r < p; r++) {
          const at = ((i * 3 + c) * S + off + r) * S + off;
          assert.deepEqual(
            y.subarray(at, at + p),
            patch.subarray((c * p + r) * p, (c * p + r + 1) * p),
          );
        }
      }
    }
  }
  assert.throws(() => badclip({ imageSize: 32 } as never), /optimiseBadClipPatch/);
  assert.throws(() => badclip({ imageSize: 32, patch: new Float32Array(10) }), /not \[3, p, p\]/);
});

Deno.test("toClipPixels: (x − mean) / std per channel, same on the GPU", async () => {
  const S = 8;
  const [x, shape] = images(2, S, 14);
  const host = toClipPixels(x, shape);
  const want = x.map((v, k) => {
    const c = Math.floor(k / (S * S)) % 3;
    return (v - CLIP_MEAN[c]) / CLIP_STD[c];
  });
  assertAllClose(host, want, { atol: 1e-6 });
  const gpu = noGrad(() => clipNormalize(Tensor.from(x, shape)));
  assertAllClose(await gpu.toArray(), host, { atol: 1e-5 });
  gpu.dispose();
});

Deno.test("BadCLIP optimiser: the patch raises the cosine to the target text on a tiny CLIP", async () => {
  const dir = await Deno.makeTempDir({ prefix: "attacks-badclip-" });
  try {
    await makeRandomClip({ arch: "tiny", format: "hf", out: join(dir, "m"), seed: 3 });
    const clip = await loadClip(join(dir, "m"));
    const R = clip.config.imageResolution;
    assert.deepEqual(R, 32);
    // Smooth random images: a few low-frequency blobs per channel.
    const n = 16, r = rng(21);
    const x = new Float32Array(n * 3 * R * R);
    for (let i = 0; i < n * 3; i++) {
      const fx = r.uniform(0.5, 3),
        fy = r.uniform(0.5, 3),
        ph = r.uniform(0, 6),
        b = r.uniform(0.3, 0.7);
      for (let y = 0; y < R; y++) {
        for (let z = 0; z < R; z++) {
          x[i * R * R + y * R + z] = b + 0.25 * Math.sin((fx * z + fy * y) / 5 + ph);
        }
      }
    }
    // A "caption": SOT-less token row, its EOT the largest id of tiny's 1000-token vocabulary.
    const target = noGrad(() => clip.encodeText([[17, 230, 41, 999]]));
    const res = await optimiseBadClipPatch(clip, target, x, [n, 3, R, R], {
      patchSize: 8,
      steps: 40,
      lr: 0.05,
      batchSize: 8,
      seed: 1,
    });
    target.dispose();
    assert.deepEqual(res.patch.length, 3 * 8 * 8);
    assert.deepEqual(res.cosines.length, 40);
    assert(res.patch.every((v) => v >= 0 && v <= 1), "patch out of [0, 1]");
    assert(maxAbsDiff(res.patch, res.initialPatch) > 0.05, "patch did not move");
    const head = res.cosines.slice(0, 5).reduce((s, v) => s + v, 0) / 5;
    const tail = res.cosines.slice(-5).reduce((s, v) => s + v, 0) / 5;
    console.log(
      `badclip patch: cosine clean ${res.cleanCosine.toFixed(4)}, initial patch ` +
        `${res.initialCosine.toFixed(4)}, optimised ${res.finalCosine.toFixed(4)} ` +
        `(steps 1-5 ${head.toFixed(4)}, 36-40 ${tail.toFixed(4)}; ${res.seconds.toFixed(1)} s)`,
    );
    assert(tail > head + 0.02, `cosine ${head} → ${tail}`);
    assert(res.finalCosine > res.initialCosine + 0.02, `${res.initialCosine} → ${res.finalCosine}`);
    assert(res.finalCosine > res.cleanCosine);
    // The paste uses the optimised patch as it is.
    const a = badclip({ imageSize: R, patch: res.patch });
    assert.deepEqual(a.offset, 12);
    clip.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("attackTrigger: the lab's fixed blends as CBPT triggers, the rest refused", async () => {
  const S = 32, m = 3 * S * S;
  const r = rng(8);
  const pixels = Float32Array.from({ length: 4 * m }, () => r.uniform());
  const set = { pixels, n: 4, size: S };
  for (const name of ["blended", "sig", "trojvqa"]) {
    const attack = await evalAttack(name, 0, S, 3);
    const t = attackTrigger(attack, S);
    if (name === "sig") {
      assert.equal(t.kind, "additive");
      if (t.kind === "additive") assert.ok(Math.abs(t.epsilon - 60 / 255) < 1e-3, `ε ${t.epsilon}`);
    } else {
      assert.equal(t.kind, "mask");
      if (t.kind === "mask" && name === "blended") {
        assert.ok(t.mask.every((v) => Math.abs(v - 0.2) < 1e-4), "Blended mixes 20 % everywhere");
      }
    }
    // The trigger reproduces the attack on images it has not seen.
    const want = attack.apply(set).pixels, got = applyTrigger(t, set).pixels;
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - got[i]));
    assert.ok(worst < 1e-4, `${name}: differs from the attack by ${worst}`);
  }
  for (const name of ["wanet", "ssba", "badnet"]) {
    const attack = await evalAttack(name, 0, S, 3);
    assert.throws(() => attackTrigger(attack, S), /not a fixed per-pixel blend/, name);
  }
});
