// Embedding lookup and its gradient. No float atomics exist in WGSL, so the scatter-add gives
// each invocation one column and walks the indices in order: deterministic, race-free.

import type { Kernel } from "../runtime.ts";
import { uniformLayout } from "../uniforms.ts";
import { main1d, storage } from "./common.ts";

const GATHER_U = uniformLayout({ n: "u32", D: "u32", V: "u32" });

/** out[r, d] = table[idx[r], d] (n = rows · D); an index out of range gives NaN. */
export function gatherRows(): Kernel<typeof GATHER_U> {
  return {
    name: "gather_rows.forward",
    bindings: ["read", "read", "rw"],
    uniforms: GATHER_U,
    code: `${GATHER_U.wgsl}
${storage(["Table", "f32", "read"], ["Idx", "i32", "read"], ["Out", "f32", "rw"])}
${
      main1d(`  let r = i / u.D; let d = i % u.D;
  let v = Idx[r];
  if (v < 0 || u32(v) >= u.V) { Out[i] = bitcast<f32>(0x7fc00000u); return; }
  Out[i] = Table[u32(v) * u.D + d];`)
    }`,
  };
}

const SCATTER_U = uniformLayout({ n: "u32", rows: "u32", V: "u32" });

/** dtable[idx[r], d] += g[r, d]; one invocation per column d (n = D); dtable starts at zero. */
export function scatterAddRows(): Kernel<typeof SCATTER_U> {
  return {
    name: "gather_rows.backward_scatter_add",
    bindings: ["read", "read", "rw"],
    uniforms: SCATTER_U,
    code: `${SCATTER_U.wgsl}
${storage(["G", "f32", "read"], ["Idx", "i32", "read"], ["DT", "f32", "rw"])}
${
      main1d(`  for (var r = 0u; r < u.rows; r++) {
    let v = Idx[r];
    if (v >= 0 && u32(v) < u.V) { DT[u32(v) * u.n + i] += G[r * u.n + i]; }
  }`)
    }`,
  };
}
