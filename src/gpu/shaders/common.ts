// Pieces shared by the WGSL generators.

/** Invocations per workgroup of the 1-D kernels. */
export const WG = 256;
/** Highest tensor rank the strided kernels handle. */
export const MAX_RANK = 8;

/** Entry point of a 1-D kernel over `u.n` items; `i` is the flat id (grids fold x into y). */
export function main1d(body: string, wg = WG): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = g.x + g.y * nwg.x * ${wg}u;
  if (i >= u.n) { return; }
${body}
}`;
}

/** Storage binding declarations: [name, type, access] from binding 1 on. */
export function storage(...decls: [string, string, "read" | "rw"][]): string {
  return decls
    .map(([name, type, access], k) =>
      `@group(0) @binding(${k + 1}) var<storage, ${
        access === "read" ? "read" : "read_write"
      }> ${name}: array<${type}>;`
    )
    .join("\n");
}

/** WGSL expression: element `d` of the uniform array `u.<field>` (array<vec4u, 2>). */
export function at8(field: string, d: string): string {
  return `u.${field}[${d} >> 2u][${d} & 3u]`;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}
