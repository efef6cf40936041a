// Safetensors reader and writer: round trips, exact f16/bf16 widening against hand-encoded bit
// patterns, rounding when narrowing, byte-identical re-encoding of files the Python library
// wrote, one test per kind of corruption (the error names the file and the tensor), and
// atomic writes.

import { concatBytes } from "../src/io/files.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  encodeSafetensors,
  float32ToBf16Bits,
  float32ToF16Bits,
  parseSafetensors,
  readSafetensors,
  toFloat32,
  toInt32,
  writeSafetensors,
} from "../src/io/safetensors.ts";
import {
  type JsonProblem,
  parseJsonStrict,
  StrictJsonError,
  type StrictJsonOptions,
} from "../src/io/strict.ts";
import { oracleDir } from "./helpers.ts";

const oracle = oracleDir();

const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0];

/** Exact equality, NaN == NaN and +0 != -0. */
function assertSameFloats(got: Float32Array, want: number[], what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  want.forEach((w, i) => {
    assert.ok(Object.is(got[i], Math.fround(w)), `${what}[${i}]: got ${got[i]}, expected ${w}`);
  });
}

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "safetensors_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---- widening and narrowing ----------------------------------------------------------------

// [bits, value] pairs, hand-encoded: zero, negative zero, normals, the largest finite value,
// the smallest and largest subnormals, the smallest normal, infinities, NaN.
const F16_CASES: [number, number][] = [
  [0x0000, 0],
  [0x8000, -0],
  [0x3c00, 1],
  [0xc000, -2],
  [0x3555, 0.333251953125],
  [0x7bff, 65504],
  [0x0001, 2 ** -24],
  [0x8001, -(2 ** -24)],
  [0x03ff, 1023 * 2 ** -24],
  [0x0200, 2 ** -15],
  [0x0400, 2 ** -14],
  [0x7c00, Infinity],
  [0xfc00, -Infinity],
  [0x7e00, NaN],
];
const BF16_CASES: [number, number][] = [
  [0x0000, 0],
  [0x8000, -0],
  [0x3f80, 1],
  [0x4049, 3.140625],
  [0xc2f7, -123.5],
  [0x7f7f, 3.3895313892515355e38],
  [0x0001, 2 ** -133], // f32 subnormal
  [0x007f, 127 * 2 ** -133],
  [0x0080, 2 ** -126],
  [0x7f80, Infinity],
  [0xff80, -Infinity],
  [0x7fc0, NaN],
];

Deno.test("toFloat32 widens F16 exactly (subnormals, inf, NaN)", () => {
  const bits = Uint16Array.from(F16_CASES.map(([b]) => b));
  const file = parseSafetensors(
    encodeSafetensors({ h: { dtype: "F16", shape: [bits.length], data: bits } }),
    "f16",
  );
  const got = toFloat32(file.tensors.get("h")!);
  assertSameFloats(got, F16_CASES.map(([, v]) => v), "F16");
  assert.equal(f32Bits(got[got.length - 1]), 0x7fc00000, "F16 quiet NaN widens to f32 quiet NaN");
});

Deno.test("toFloat32 widens BF16 exactly (f32 subnormals, inf, NaN)", () => {
  const bits = Uint16Array.from(BF16_CASES.map(([b]) => b));
  const file = parseSafetensors(
    encodeSafetensors({ b: { dtype: "BF16", shape: [bits.length], data: bits } }),
    "bf16",
  );
  const got = toFloat32(file.tensors.get("b")!);
  assertSameFloats(got, BF16_CASES.map(([, v]) => v), "BF16");
  BF16_CASES.forEach(([b], i) => assert.equal(f32Bits(got[i]), b << 16 >>> 0, `BF16[${i}] bits`));
});

Deno.test("f32 → f16 rounds to nearest even; out of range goes to inf or zero", () => {
  const cases: [number, number][] = [
    ...F16_CASES.filter(([, v]) => !Number.isNaN(v)).map(([b, v]) => [v, b] as [number, number]),
    [1 + 2 ** -11, 0x3c00], // tie → even (1)
    [1 + 3 * 2 ** -11, 0x3c02], // tie → even (1 + 2^-9)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
    [65504 + 16, 0x7c00], // halfway to 2^16 rounds to inf
    [65504 + 15, 0x7bff],
    [1e6, 0x7c00],
    [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal → 0
    [1.5 * 2 ** -25, 0x0001],
    [3 * 2 ** -25, 0x0002], // tie → even
    [2 ** -14 - 2 ** -25, 0x0400], // rounds up into the normals
    [-1e-10, 0x8000],
  ];
  const got = float32ToF16Bits(Float32Array.from(cases.map(([v]) => v)));
  cases.forEach(([v, b], i) => assert.equal(got[i], b, `f16(${v}): got 0x${got[i].toString(16)}`));
  const nan = float32ToF16Bits(Float32Array.of(NaN))[0];
  assert.ok((nan & 0x7c00) === 0x7c00 && (nan & 0x3ff) !== 0, "NaN stays NaN");
});

Deno.test("f32 → bf16 rounds to nearest even", () => {
  const cases: [number, number][] = [
    ...BF16_CASES.filter(([, v]) => !Number.isNaN(v)).map(([b, v]) => [v, b] as [number, number]),
    [1 + 2 ** -8, 0x3f80], // tie → even
    [1 + 3 * 2 ** -8, 0x3f82], // tie → even
    [1 + 2 ** -8 + 2 ** -20, 0x3f81],
    [3.4028234663852886e38, 0x7f80], // f32 max rounds to inf
  ];
  const got = float32ToBf16Bits(Float32Array.from(cases.map(([v]) => v)));
  cases.forEach(([v, b], i) => assert.equal(got[i], b, `bf16(${v}): got 0x${got[i].toString(16)}`));
  assert.equal(float32ToBf16Bits(Float32Array.of(NaN))[0] & 0x7fc0, 0x7fc0, "NaN stays NaN");
});

// ---- round trips ---------------------------------------------------------------------------

Deno.test("round trip of F32, F16, BF16, I32, I64 with metadata", async () => {
  await withTempDir(async (dir) => {
    const f32 = Float32Array.from({ length: 24 }, (_, i) => Math.fround(Math.sin(i) * 1e3));
    const halves = Float32Array.of(0.5, -3, 1024, 2 ** -20);
    const i32 = Int32Array.of(0, -1, 2147483647, -2147483648, 7);
    const i64 = BigInt64Array.of(0n, -1n, 2147483647n, -2147483648n);
    const path = join(dir, "t.safetensors");
    const size = await writeSafetensors(path, {
      f32: { dtype: "F32", shape: [2, 3, 4], data: f32 },
      f16: { dtype: "F16", shape: [2, 2], data: halves },
      bf16: { dtype: "BF16", shape: [4], data: halves },
      i32: { dtype: "I32", shape: [5], data: i32 },
      i64: { dtype: "I64", shape: [2, 2], data: i64 },
      scalar: { dtype: "F32", shape: [], data: Float32Array.of(2.5) },
      empty: { dtype: "F32", shape: [0, 3], data: new Float32Array(0) },
    }, { format: "pt", note: "round trip" });
    assert.equal((await Deno.stat(path)).size, size);
    const file = await readSafetensors(path);
    assert.deepEqual(file.metadata, { format: "pt", note: "round trip" });
    const t = (n: string) => file.tensors.get(n)!;
    assert.deepEqual(t("f32").shape, [2, 3, 4]);
    assert.deepEqual([...toFloat32(t("f32"))], [...f32]);
    assert.deepEqual([...toFloat32(t("f16"))], [...halves], "exactly representable in f16");
    assert.deepEqual([...toFloat32(t("bf16"))], [...halves], "exactly representable in bf16");
    assert.deepEqual([...toInt32(t("i32"))], [...i32]);
    assert.deepEqual([...toInt32(t("i64"))], [0, -1, 2147483647, -2147483648]);
    assert.deepEqual(t("scalar").shape, []);
    assert.deepEqual([...toFloat32(t("scalar"))], [2.5]);
    assert.deepEqual(t("empty").shape, [0, 3]);
    assert.equal(toFloat32(t("empty")).length, 0);
    // Data order like the Python library: 8-byte dtypes first, then by name.
    assert.deepEqual([...file.tensors.keys()], [
      "i64",
      "empty",
      "f32",
      "i32",
      "scalar",
      "bf16",
      "f16",
    ]);
  });
});

Deno.test("toFloat32 returns a view for aligned F32 data and a copy when misaligned", () => {
  const bytes = encodeSafetensors({
    x: { dtype: "F32", shape: [3], data: Float32Array.of(1, 2, 3) },
  });
  const aligned = parseSafetensors(bytes, "aligned").tensors.get("x")!;
  const view = toFloat32(aligned);
  assert.equal(view.buffer, bytes.buffer, "no copy for aligned data");
  // The same file one byte into a bigger buffer: every tensor view is misaligned.
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  const mis = parseSafetensors(shifted.subarray(1), "misaligned").tensors.get("x")!;
  assert.equal(mis.bytes.byteOffset % 4, 1);
  assert.deepEqual([...toFloat32(mis)], [1, 2, 3]);
});

Deno.test("toInt32 range-checks I64 and refuses float tensors, naming the tensor", () => {
  const file = parseSafetensors(
    encodeSafetensors({
      big: { dtype: "I64", shape: [2], data: BigInt64Array.of(1n, 2147483648n) },
      f: { dtype: "F32", shape: [1], data: Float32Array.of(1) },
    }),
    "ints",
  );
  assert.throws(
    () => toInt32(file.tensors.get("big")!, "big"),
    /big: I64 value 2147483648 at index 1/,
  );
  assert.throws(() => toInt32(file.tensors.get("f")!, "f"), /f: dtype F32 is not an integer type/);
  assert.throws(
    () => toFloat32({ dtype: "I32", shape: [0], bytes: new Uint8Array(0) }, "i"),
    /i: dtype I32/,
  );
});

Deno.test({
  name: "reads every file in fixtures/oracle/reference and re-encodes it byte for byte",
  fn: async () => {
    const files: string[] = [];
    const walk = async (dir: string) => {
      for await (const e of Deno.readDir(dir)) {
        if (e.isDirectory) await walk(join(dir, e.name));
        else if (e.name.endsWith(".safetensors")) files.push(join(dir, e.name));
      }
    };
    await walk(`${oracle}reference`);
    let compared = 0;
    assert.ok(files.length >= 8, `found only ${files.length} reference files`);
    for (const path of files) {
      const file = await readSafetensors(path);
      assert.ok(file.tensors.size > 0, `${path}: no tensors`);
      for (const [name, t] of file.tensors) {
        const values = t.dtype.startsWith("I") ? toInt32(t, name) : toFloat32(t, name);
        assert.equal(values.length, t.shape.reduce((a, b) => a * b, 1), `${path}: ${name}`);
      }
      // Files the Python safetensors library wrote (compact JSON header) must come out byte
      // for byte; others (preprocess-224 has a hand-written header) must round-trip.
      const specs = Object.fromEntries(
        [...file.tensors].map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape, data: t.bytes }]),
      );
      const again = encodeSafetensors(specs, file.metadata ?? undefined);
      const original = await Deno.readFile(path);
      const headerLen = Number(new DataView(original.buffer).getBigUint64(0, true));
      const header = new TextDecoder().decode(original.subarray(8, 8 + headerLen));
      if (!header.includes('", "')) {
        compared++;
        assert.ok(
          again.length === original.length && again.every((b, i) => b === original[i]),
          `${path}: re-encoding differs from the Python library's bytes`,
        );
      }
      const back = parseSafetensors(again, "re-encoded");
      assert.deepEqual(back.metadata, file.metadata);
      for (const [n, t] of file.tensors) {
        const u = back.tensors.get(n)!;
        assert.ok(
          u.dtype === t.dtype && u.bytes.every((b, i) => b === t.bytes[i]),
          `${path}: ${n}`,
        );
      }
    }
    assert.ok(compared >= 7, `only ${compared} files written by the safetensors library`);
  },
});

Deno.test({
  name: "hf and hf-bf16 reference weights agree within bf16 rounding",
  fn: async () => {
    const f = await readSafetensors(`${oracle}reference/tiny-a/hf/model.safetensors`);
    const b = await readSafetensors(`${oracle}reference/tiny-a/hf-bf16/model.safetensors`);
    for (const [name, t] of f.tensors) {
      const bt = b.tensors.get(name)!;
      assert.equal(bt.dtype, "BF16", name);
      const want = float32ToBf16Bits(toFloat32(t, name));
      const got = new Uint16Array(bt.bytes.slice().buffer);
      const mismatch = want.findIndex((w, i) => w !== got[i]);
      assert.equal(mismatch, -1, `${name}: bf16 file is not the f32 one rounded to nearest even`);
    }
  },
});

// ---- corruption ----------------------------------------------------------------------------

/** A file with a hand-written header (JSON text, unpadded) and `dataLen` zero bytes. */
function rawFile(header: string | object, dataLen: number, headerLen?: number): Uint8Array {
  const json = new TextEncoder().encode(
    typeof header === "string" ? header : JSON.stringify(header),
  );
  const out = new Uint8Array(8 + json.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen ?? json.length), true);
  out.set(json, 8);
  return out;
}

const entry = (dtype: string, shape: unknown, offs: unknown) => ({
  dtype,
  shape,
  data_offsets: offs,
});

const CORRUPTIONS: { name: string; bytes: () => Uint8Array; tensor?: string; expect: RegExp }[] = [
  {
    name: "file shorter than the header length field",
    bytes: () => new Uint8Array(5),
    expect: /truncated safetensors file: 5 bytes/,
  },
  {
    name: "truncated data",
    bytes: () => {
      const good = encodeSafetensors({
        a: { dtype: "F32", shape: [4], data: new Float32Array(4) },
        z: { dtype: "F32", shape: [4], data: new Float32Array(4) },
      });
      return good.subarray(0, good.length - 3);
    },
    tensor: "z",
    expect: /data_offsets \[16, 32\] run past the data area \(29 bytes/,
  },
  {
    name: "header length past the end of the file",
    bytes: () => rawFile({ a: entry("F32", [1], [0, 4]) }, 4, 1e6),
    expect: /header length 1000000 runs past the end of the file/,
  },
  {
    name: "bad JSON",
    bytes: () => rawFile('{"a": {"dtype": "F32",', 0),
    expect: /header is not valid UTF-8 JSON/,
  },
  {
    name: "header not an object",
    bytes: () => rawFile("[1, 2]", 0),
    expect: /header is an array; expected a JSON object/,
  },
  {
    name: "unknown dtype",
    bytes: () => rawFile({ w: entry("F17", [1], [0, 4]) }, 4),
    tensor: "w",
    expect: /unknown dtype "F17"; expected one of BOOL, .*F32/,
  },
  {
    name: "negative shape",
    bytes: () => rawFile({ w: entry("F32", [2, -1], [0, 4]) }, 4),
    tensor: "w",
    expect: /shape \[2,-1\] is invalid; expected non-negative integers/,
  },
  {
    name: "offsets out of range",
    bytes: () => rawFile({ ok: entry("F32", [1], [0, 4]), w: entry("F32", [2], [4, 12]) }, 8),
    tensor: "w",
    expect: /data_offsets \[4, 12\] run past the data area \(8 bytes/,
  },
  {
    name: "offsets reversed",
    bytes: () => rawFile({ w: entry("F32", [0], [4, 0]) }, 4),
    tensor: "w",
    expect: /expected begin <= end/,
  },
  {
    name: "offsets not a pair",
    bytes: () => rawFile({ w: entry("F32", [1], [0]) }, 4),
    tensor: "w",
    expect: /data_offsets \[0\]; expected \[begin, end\]/,
  },
  {
    name: "overlapping tensors",
    bytes: () => rawFile({ a: entry("F32", [2], [0, 8]), b: entry("F32", [2], [4, 12]) }, 12),
    tensor: "b",
    expect: /"a" \[0, 8\] and "b" \[4, 12\] overlap/,
  },
  {
    name: "wrong size for the shape",
    bytes: () => rawFile({ w: entry("F16", [2, 3], [0, 24]) }, 24),
    tensor: "w",
    expect: /hold 24 bytes; expected 12 \(shape \[2, 3\] of F16/,
  },
  {
    name: "__metadata__ not a string map",
    bytes: () =>
      rawFile({ __metadata__: { format: "pt", epoch: 3 }, w: entry("F32", [1], [0, 4]) }, 4),
    tensor: "__metadata__",
    expect: /__metadata__ key "epoch" is a number \(3\); expected a string→string map/,
  },
  {
    name: "__metadata__ not an object",
    bytes: () => rawFile({ __metadata__: "pt" }, 0),
    tensor: "__metadata__",
    expect: /__metadata__ is a string/,
  },
];

for (const c of CORRUPTIONS) {
  Deno.test(`corrupt file rejected: ${c.name}`, async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "bad.safetensors");
      await Deno.writeFile(path, c.bytes());
      await assert.rejects(readSafetensors(path), (e: Error) => {
        assert.ok(e.message.startsWith(`${path}: `), `names the file: ${e.message}`);
        if (c.tensor) {
          assert.ok(
            e.message.includes(`"${c.tensor}"`) || e.message.includes(c.tensor),
            `names ${c.tensor}: ${e.message}`,
          );
        }
        assert.match(e.message, c.expect);
        return true;
      });
    });
  });
}

Deno.test("a missing file is an error naming it", async () => {
  await assert.rejects(
    readSafetensors("/nonexistent/x.safetensors"),
    /\/nonexistent\/x\.safetensors: cannot read/,
  );
});

// ---- writer errors and atomicity -----------------------------------------------------------

Deno.test("writer rejects data that does not fit the dtype or shape, naming the tensor", () => {
  assert.throws(
    () => encodeSafetensors({ w: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } }),
    /tensor "w" \(F32 \[2, 2\]\): data has 12 bytes; expected 16/,
  );
  assert.throws(
    () => encodeSafetensors({ w: { dtype: "I32", shape: [1], data: new Float32Array(1) } }),
    /tensor "w" \(I32 \[1\]\): data is a Float32Array; expected a Int32Array or a Uint8Array/,
  );
  assert.throws(
    () => encodeSafetensors({ w: { dtype: "F32", shape: [1.5], data: new Float32Array(1) } }),
    /tensor "w": shape \[1.5\]/,
  );
});

Deno.test("header is padded to 8 bytes with spaces", () => {
  for (const name of ["a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"]) {
    const b = encodeSafetensors({ [name]: { dtype: "U8", shape: [1], data: Uint8Array.of(7) } });
    const n = Number(new DataView(b.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0, `${name}: header length ${n}`);
    assert.equal(b[b.length - 1], 7);
    const text = new TextDecoder().decode(b.subarray(8, 8 + n));
    assert.match(text, /^\{.*\} *$/);
  }
});

Deno.test("a failed write leaves no partial file and no temp file", async () => {
  await withTempDir(async (dir) => {
    const listing = async () => {
      const names: string[] = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      return names.sort();
    };
    const path = join(dir, "w.safetensors");
    // 1. A tensor fails half-way through writing (after the first tensor's bytes went out).
    let called = false;
    await assert.rejects(
      writeSafetensors(path, {
        a: { dtype: "F32", shape: [1000], data: new Float32Array(1000) },
        b: {
          dtype: "F32",
          shape: [4],
          data: () => {
            called = true;
            throw new Error("generator broke");
          },
        },
      }),
      new RegExp(`${path}: write failed: generator broke`),
    );
    assert.ok(called, "the failure happened mid-write");
    assert.deepEqual(await listing(), []);
    // 2. Mis-sized data.
    await assert.rejects(
      writeSafetensors(path, { a: { dtype: "F32", shape: [2], data: new Float32Array(3) } }),
      /w\.safetensors: write failed: tensor "a"/,
    );
    assert.deepEqual(await listing(), []);
    // 3. An existing file survives a failed overwrite untouched.
    await writeSafetensors(path, { a: { dtype: "F32", shape: [1], data: Float32Array.of(42) } });
    const before = await Deno.readFile(path);
    await assert.rejects(
      writeSafetensors(path, { a: { dtype: "F32", shape: [2], data: () => new Float32Array(1) } }),
    );
    assert.deepEqual(await Deno.readFile(path), before);
    assert.deepEqual(await listing(), ["w.safetensors"]);
    // 4. The rename itself fails (the target is a non-empty directory).
    const blocked = join(dir, "blocked.safetensors");
    await Deno.mkdir(blocked);
    await Deno.writeTextFile(join(blocked, "keep"), "x");
    await assert.rejects(
      writeSafetensors(blocked, { a: { dtype: "F32", shape: [1], data: Float32Array.of(1) } }),
      /blocked\.safetensors: write failed/,
    );
    assert.deepEqual(await listing(), ["blocked.safetensors", "w.safetensors"]);
  });
});

// ---- strict like the reference reader (huggingface/safetensors) -----------------------------

/** A valid one-tensor F32 file's header entry, for hand-written headers. */
const f32 = (offs: string) => `{"dtype":"F32","shape":[1],"data_offsets":${offs}}`;

const u64le = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};

/** Files the lenient reader accepted although the format (and the reference reader) forbids them. */
const LENIENT: { name: string; bytes: () => Uint8Array; expect: RegExp }[] = [
  {
    name: "duplicate key (JSON.parse keeps the last)",
    bytes: () => rawFile(`{"a":${f32("[0,4]")},"a":${f32("[0,4]")}}`, 4),
    expect: /key "a" twice/,
  },
  {
    name: "duplicate key inside an entry",
    bytes: () => rawFile(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4),
    expect: /key "dtype" twice/,
  },
  {
    name: "trailing bytes after the last tensor",
    bytes: () =>
      concatBytes(
        encodeSafetensors({ a: { dtype: "F32", shape: [1], data: new Float32Array(1) } }),
        new Uint8Array(3),
      ),
    expect: /3 bytes after the last tensor/,
  },
  {
    name: "a hole in the data area",
    bytes: () => rawFile(`{"a":${f32("[0,4]")},"b":${f32("[8,12]")}}`, 12),
    expect: /bytes \[4, 8\) of the data area belong to no tensor/,
  },
  {
    name: "a hole before the first tensor",
    bytes: () => rawFile(`{"a":${f32("[4,8]")}}`, 8),
    expect: /bytes \[0, 4\) of the data area belong to no tensor/,
  },
  {
    name: "offset written 0.0",
    bytes: () => rawFile(`{"a":${f32("[0.0,4]")}}`, 4),
    expect: /number 0\.0 .*is not an integer/,
  },
  {
    name: "offset written 4e0",
    bytes: () => rawFile(`{"a":${f32("[0,4e0]")}}`, 4),
    expect: /number 4e0 .*is not an integer/,
  },
  {
    name: "a UTF-8 byte-order mark before the header",
    bytes: () => rawFile(`\uFEFF{"a":${f32("[0,4]")}}`, 4),
    expect: /byte-order mark/,
  },
  {
    name: "leading whitespace before the header",
    bytes: () => rawFile(` {"a":${f32("[0,4]")}}`, 4),
    expect: /expected a JSON object starting with "\{"/,
  },
  {
    name: "a shape whose product overflows",
    bytes: () =>
      rawFile(
        `{"a":{"dtype":"F32","shape":[9007199254740991,9007199254740991,0],"data_offsets":[0,0]}}`,
        0,
      ),
    expect: /shape \[9007199254740991, 9007199254740991, 0\] .*overflows/,
  },
  {
    name: "a zero-size tensor inside another tensor's bytes",
    bytes: () =>
      rawFile(
        `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
          `"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`,
        8,
      ),
    expect: /overlap/,
  },
  {
    name: "a header length over the reference's 100,000,000-byte cap",
    bytes: () => concatBytes(u64le(2 ** 40), new TextEncoder().encode("{}")),
    expect: /header length 1099511627776 exceeds 100000000 bytes/,
  },
];

for (const c of LENIENT) {
  Deno.test(`strict like the reference reader: rejects ${c.name}`, () => {
    assert.throws(() => parseSafetensors(c.bytes(), "lenient.safetensors"), (e: Error) => {
      assert.ok(e.message.startsWith("lenient.safetensors: "), e.message);
      assert.match(e.message, c.expect);
      return true;
    });
  });
}

Deno.test('strict like the reference reader: "__metadata__": null is no metadata', () => {
  const file = parseSafetensors(rawFile(`{"__metadata__":null,"a":${f32("[0,4]")}}`, 4), "m");
  assert.equal(file.metadata, null);
  assert.deepEqual([...file.tensors.keys()], ["a"]);
});

Deno.test("strict reader still accepts padding, zero-size tensors and any key order", () => {
  const header = `{"z":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]},` +
    `"b":${f32("[4,8]")},"__metadata__":{"k":"v"},"a":${f32("[0,4]")}}` + " ".repeat(5);
  const file = parseSafetensors(rawFile(header, 8), "ok");
  assert.deepEqual([...file.tensors.keys()], ["a", "b", "z"]);
  assert.deepEqual(file.metadata, { k: "v" });
  // "__proto__" is an ordinary tensor name, not the object's prototype.
  const proto = parseSafetensors(rawFile(`{"__proto__":${f32("[0,4]")}}`, 4), "p");
  assert.deepEqual([...proto.tensors.keys()], ["__proto__"]);
});

Deno.test("error messages echo a short prefix of hostile values, and deep nesting fails fast", () => {
  const big = "x".repeat(1 << 20);
  const deep = "[".repeat(1 << 20) + "]".repeat(1 << 20);
  const cases: [string, RegExp][] = [
    [`{"a":{"dtype":"${big}","shape":[1],"data_offsets":[0,4]}}`, /unknown dtype "xxx+…"/],
    [`{"${big}":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}`, /tensor "xxx+…"/],
    [`{"${big}":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}`, /tensor "xxx+…"/],
    [`{"a":{"dtype":"F32","shape":${deep},"data_offsets":[0,4]}}`, /nest/],
    [`{"a":{"dtype":"F64","shape":[${"1,".repeat(1 << 18)}1],"data_offsets":[0,4]}}`, /…/],
    [`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"${big}":1}`, /tensor "xxx+…"/],
  ];
  for (const [header, expect] of cases) {
    const t0 = performance.now();
    assert.throws(() => parseSafetensors(rawFile(header, 4), "hostile"), (e: Error) => {
      assert.ok(e.message.length < 600, `message of ${e.message.length} chars`);
      assert.match(e.message, expect);
      return true;
    });
    const ms = performance.now() - t0;
    assert.ok(ms < 2000, `${ms.toFixed(0)} ms to reject a ${header.length}-char header`);
  }
});

Deno.test("parseJsonStrict agrees with JSON.parse, except where it is stricter", () => {
  const same = [
    '{"a":[1,-2,3.5e-3,0,-0.0,1E+2],"b":{"c":null,"d":true,"e":false},"f":""}',
    ' \t\n{"\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/\\b\\f\\r\\t":"é😀"} \r\n',
    "[]",
    '"x"',
    "12",
    '{"__proto__":{"x":1},"constructor":2}',
  ];
  for (const text of same) {
    assert.deepEqual(parseJsonStrict(text), JSON.parse(text), text);
    assert.deepEqual(Object.keys(parseJsonStrict(text) ?? {}), Object.keys(JSON.parse(text) ?? {}));
  }
  const invalid = [
    "",
    "{",
    "[1,]",
    "{'a':1}",
    "01",
    "1.",
    ".5",
    "-",
    "tru",
    '"\u0001"',
    "[1] x",
    '"\\x"',
    '{"a" 1}',
    "NaN",
    "[1 2]",
  ];
  for (const text of invalid) {
    assert.throws(() => JSON.parse(text), `JSON.parse(${JSON.stringify(text)})`);
    assert.throws(() => parseJsonStrict(text), StrictJsonError, JSON.stringify(text));
  }
  // Stricter: duplicates, lone surrogates (as serde_json), depth, non-integers on request.
  const stricter: [string, JsonProblem, StrictJsonOptions?][] = [
    ['{"a":1,"b":{"c":1,"c":2}}', "duplicate"],
    ['"\\ud800"', "syntax"],
    ['"\\udc00x"', "syntax"],
    ["[".repeat(200) + "]".repeat(200), "depth"],
    ["[[[1]]]", "depth", { maxDepth: 2 }],
    ["[1, 2.0]", "not-integer", { integersOnly: true }],
    ["[1e3]", "not-integer", { integersOnly: true }],
  ];
  for (const [text, problem, opts] of stricter) {
    JSON.parse(text);
    assert.throws(() => parseJsonStrict(text, opts), (e: StrictJsonError) => {
      assert.equal(e.problem, problem, `${text.slice(0, 20)}: ${e.message}`);
      return true;
    });
  }
  assert.throws(
    () => parseJsonStrict('{"x":{"y":[0,{"z":1,"z":2}]}}'),
    /key "z" twice at \$\["x"\]\["y"\]\[1\] \(character 20\)/,
  );
});
