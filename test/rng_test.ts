// Host sampling helpers (src/io/rng.ts).

import assert from "node:assert/strict";
import { batchDrawer, mulberry32, shuffleInPlace } from "../src/io/rng.ts";

Deno.test("batchDrawer walks a reshuffled permutation B at a time and drops a pass's remainder", () => {
  const n = 7, B = 3;
  const next = batchDrawer(n, B, mulberry32(4));
  // The same draws by hand: shuffle, two batches of 3 (the 7th index waits), shuffle again.
  const rand = mulberry32(4), order = Array.from({ length: n }, (_, i) => i);
  shuffleInPlace(order, rand);
  const pass1 = [order.slice(0, 3), order.slice(3, 6)];
  shuffleInPlace(order, rand);
  const pass2 = [order.slice(0, 3), order.slice(3, 6)];
  assert.deepEqual([next(), next(), next(), next()], [...pass1, ...pass2]);
  const seen = pass1.flat();
  assert.equal(new Set(seen).size, 6, "no index twice within a pass");
  // A batch larger than the set is the whole set, reshuffled each time.
  assert.deepEqual([...batchDrawer(2, 5, mulberry32(1))()].sort(), [0, 1]);
});
