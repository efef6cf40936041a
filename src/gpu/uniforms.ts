// Uniform layouts. Binding 0 of every kernel is a uniform struct `U`, declared once per kernel as
// a table of fields: the WGSL struct is generated from the table and a dispatch's values are
// packed by the same table, so the shader and the writer cannot disagree on the order.
//
// WGSL's uniform layout for the types used here: u32, i32 and f32 take 4 bytes at 4-byte
// alignment; array<vec4u, 2> (MAX_RANK u32s, for shapes and strides) takes 32 bytes at 16-byte
// alignment. Values are written in field order, padding to 16 before each array.

/** Bytes of one dispatch's uniform slot (the arena hands out slots at this stride). */
export const UNIFORM_SLOT = 256;

/** The WGSL types a uniform field may have. */
export type FieldType = "u32" | "i32" | "f32" | "array<vec4u, 2>";
export type Fields = Readonly<Record<string, FieldType>>;

/** A kernel's uniform struct: its fields in order, and the WGSL that declares it at binding 0. */
export interface UniformLayout<F extends Fields = Fields> {
  readonly fields: F;
  readonly wgsl: string;
}

/** One value per field: a number for a scalar, up to 8 numbers for an array<vec4u, 2>. */
export type UniformValues<L extends UniformLayout> = {
  readonly [K in keyof L["fields"]]: L["fields"][K] extends "array<vec4u, 2>" ? readonly number[]
    : number;
};

const ARRAY_LEN = 8;

/** Declares a layout; the table's key order is the struct's field order. */
export function uniformLayout<F extends Fields>(fields: F): UniformLayout<F> {
  const decls = Object.entries(fields).map(([name, type]) => {
    // Integer-like keys would reorder (JS enumerates them first); WGSL forbids them anyway.
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`uniform field name "${name}"`);
    return `${name}: ${type}`;
  });
  return {
    fields,
    wgsl: `struct U { ${decls.join(", ")} };\n@group(0) @binding(0) var<uniform> u: U;`,
  };
}

/** Packs `values` in the layout's order; a missing, unknown or mistyped field throws. */
export function writeUniforms<L extends UniformLayout>(
  w: UniformWriter,
  layout: L,
  values: UniformValues<L>,
): void {
  const given = values as Readonly<Record<string, number | readonly number[]>>;
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(layout.fields, name)) throw fieldError(layout, `no field "${name}"`);
  }
  for (const [name, type] of Object.entries(layout.fields)) {
    const v = given[name];
    if (v === undefined) throw fieldError(layout, `no value for "${name}"`);
    if (type === "array<vec4u, 2>") {
      if (!Array.isArray(v) || v.length > ARRAY_LEN) {
        throw fieldError(layout, `"${name}" needs at most ${ARRAY_LEN} numbers`);
      }
      w.u32x4(v, ARRAY_LEN);
    } else {
      if (typeof v !== "number") throw fieldError(layout, `"${name}" needs a number`);
      w[type](v);
    }
  }
}

function fieldError(layout: UniformLayout, what: string): Error {
  return new Error(`uniforms: ${what} (${layout.wgsl.split("\n")[0]})`);
}

/** Writes one dispatch's uniform slot: scalars in declaration order, `align16` before arrays. */
export class UniformWriter {
  #view: DataView;
  #at = 0;
  constructor(buffer: ArrayBuffer, private base: number) {
    this.#view = new DataView(buffer, base, UNIFORM_SLOT);
  }
  reset(): this {
    this.#at = 0;
    return this;
  }
  u32(...vs: number[]): this {
    for (const v of vs) this.#view.setUint32(this.#next(), v, true);
    return this;
  }
  i32(...vs: number[]): this {
    for (const v of vs) this.#view.setInt32(this.#next(), v, true);
    return this;
  }
  f32(...vs: number[]): this {
    for (const v of vs) this.#view.setFloat32(this.#next(), v, true);
    return this;
  }
  /** Pads to a 16-byte boundary (WGSL alignment of vec4 and arrays in a uniform struct). */
  align16(): this {
    this.#at = Math.ceil(this.#at / 16) * 16;
    return this;
  }
  /** Writes `vs` as an array<vec4u, ceil(len/4)> padded with `pad`. */
  u32x4(vs: readonly number[], len: number, pad = 0): this {
    this.align16();
    const n = Math.ceil(len / 4) * 4;
    for (let i = 0; i < n; i++) {
      this.#view.setUint32(this.#next(), i < vs.length ? vs[i] : pad, true);
    }
    return this;
  }
  #next(): number {
    const at = this.#at;
    if (at + 4 > UNIFORM_SLOT) throw new Error(`uniform slot overflow at byte ${at}`);
    this.#at += 4;
    return at;
  }
  get offset(): number {
    return this.base;
  }
}
