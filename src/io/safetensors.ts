// Safetensors reader and writer (https://github.com/huggingface/safetensors, format section).
//
// File layout: an 8-byte little-endian header length N, N bytes of JSON
// `{"__metadata__": {str: str}?, name: {dtype, shape, data_offsets: [begin, end]}, ...}`
// (padded with spaces), then the data area; offsets are relative to the data area.
//
// The reader keeps one copy of the file and hands out views into it. It is as strict as the
// reference reader (parseSafetensors says which rule comes from where): every malformed field
// is an InputFileError naming the file, the tensor and what was expected, echoing at most a
// short prefix of any value from the file. The writer matches the Python library's byte layout
// (tensors by descending dtype size, then by name; header padded to 8 bytes) and writes
// atomically (temp file in the same directory, then rename).

import { writeAll, writeAtomicWith } from "./files.ts";
import { InputFileError, jsonPath, parseJsonStrict, preview, StrictJsonError } from "./strict.ts";

/** Bytes per element of each safetensors dtype. */
export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

/** A safetensors dtype name ("F32", "BF16", "I64", …). */
export type SafeDType = keyof typeof DTYPE_BYTES;

/** One tensor of a file as read: its dtype, shape and bytes. */
export interface SafeTensor {
  /** The element type, as the header names it. */
  dtype: SafeDType;
  /** Dimensions, outermost first. */
  shape: number[];
  /** Little-endian element bytes: a view into the file's buffer, not a copy. */
  bytes: Uint8Array;
}

/** A whole file as read. */
export interface Safetensors {
  /** The header's `__metadata__` string map, or null when it has none. */
  metadata: Record<string, string> | null;
  /** In data-offset order (the order of the file's data area). */
  tensors: Map<string, SafeTensor>;
}

/** How readSafetensors names its source. */
export interface ReadOptions {
  /** What error messages call the source (default: the path, or "<safetensors bytes>"). */
  name?: string;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function requireLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw new Error("safetensors: big-endian hosts are not supported");
}

const isDType = (d: unknown): d is SafeDType =>
  typeof d === "string" && Object.hasOwn(DTYPE_BYTES, d);
/** "[2, 3]"; long shapes show their first 8 dimensions and a count. */
const fmtShape = (s: readonly unknown[]) =>
  s.length <= 8 ? `[${s.join(", ")}]` : `[${s.slice(0, 8).join(", ")}, … (${s.length} dims)]`;
const isCount = (v: unknown): v is number =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Product of a shape (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

// ---- reader --------------------------------------------------------------------------------

/** Reads a .safetensors file (one buffer of the file's size; tensors are views into it) or parses bytes. */
export async function readSafetensors(
  src: string | Uint8Array,
  opts: ReadOptions = {},
): Promise<Safetensors> {
  if (typeof src !== "string") return parseSafetensors(src, opts.name ?? "<safetensors bytes>");
  let bytes: Uint8Array;
  try {
    bytes = await readWholeFile(src);
  } catch (e) {
    throw new InputFileError(opts.name ?? src, `cannot read safetensors file: ${errText(e)}`, {
      cause: e,
    });
  }
  return parseSafetensors(bytes, opts.name ?? src);
}

/** One allocation of the file's size, filled by reads (Deno.readFile grows its buffer: ~6× slower). */
async function readWholeFile(path: string): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array((await file.stat()).size);
  let off = 0;
  while (off < buf.length) {
    const n = await file.read(buf.subarray(off));
    if (n === null) break; // the file shrank meanwhile: parse what is there
    off += n;
  }
  return off === buf.length ? buf : buf.subarray(0, off);
}

/**
 * Limits of the reference reader (huggingface/safetensors: safetensors/src/tensor.rs
 * `read_metadata` and `Metadata::validate`; the README's "Format" section), whose rules this
 * reader follows; each check below says where its rule comes from.
 */
export const SAFETENSORS_RULES = {
  /** tensor.rs MAX_HEADER_SIZE: a longer header is HeaderTooLarge. */
  maxHeaderBytes: 100_000_000,
  /** serde_json's recursion limit (the reference parses the header with serde_json). */
  maxDepth: 128,
} as const;

type Fail = (msg: string) => never;

interface Entry {
  key: string;
  dtype: SafeDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and validates safetensors bytes; `name` labels error messages. */
export function parseSafetensors(bytes: Uint8Array, name: string): Safetensors {
  const fail: Fail = (msg) => {
    throw new InputFileError(name, msg);
  };
  const headerLen = headerLength(bytes, fail);
  const header = parseHeader(bytes.subarray(8, 8 + headerLen), fail);
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  let metadata: Record<string, string> | null = null;
  const entries: Entry[] = [];
  for (const [key, raw] of Object.entries(header)) {
    if (key === "__metadata__") metadata = checkMetadata(raw, name);
    else entries.push(checkEntry(key, raw, dataLen, fail));
  }
  checkCoverage(entries, dataLen, fail);
  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    const bytesView = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.key, { dtype: e.dtype, shape: e.shape, bytes: bytesView });
  }
  return { metadata, tensors };
}

/** The u64 header length, checked against the reference's cap and the file's size. */
function headerLength(bytes: Uint8Array, fail: Fail): number {
  const size = bytes.byteLength;
  if (size < 8) {
    fail(`truncated safetensors file: ${size} bytes; expected at least 8 (the header length)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const headerLen = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  const cap = SAFETENSORS_RULES.maxHeaderBytes;
  if (headerLen > cap) {
    fail(
      `header length ${headerLen} exceeds ${cap} bytes, the reference reader's limit ` +
        `(HeaderTooLarge; not a safetensors file?)`,
    );
  }
  if (headerLen > size - 8) {
    fail(
      `header length ${headerLen} runs past the end of the file (${size} bytes); expected at ` +
        `most ${size - 8} (truncated file, or not a safetensors file)`,
    );
  }
  return headerLen;
}

/**
 * The header as an object: UTF-8 (fatal, and a byte-order mark is not skipped: serde_json
 * refuses it), starting with "{" (README: "MUST begin with a `{`"), strict JSON: unique keys
 * (README: "Duplicate keys are disallowed"; JSON.parse would keep the last), integers only
 * (serde reads shapes and offsets as usize, so `0.0` or `4e0` fail there; JSON.parse would
 * make them integers), nesting at most serde_json's 128.
 */
function parseHeader(raw: Uint8Array, fail: Fail): Record<string, unknown> {
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw);
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${errText(e)}); expected a JSON object`);
  }
  if (text[0] !== "{") fail(headerStartProblem(text));
  try {
    return parseJsonStrict(text, {
      integersOnly: true,
      maxDepth: SAFETENSORS_RULES.maxDepth,
    }) as Record<string, unknown>;
  } catch (e) {
    if (!(e instanceof StrictJsonError)) throw e;
    return fail(jsonProblem(e));
  }
}

function headerStartProblem(text: string): string {
  if (text[0] === "\uFEFF") {
    return `header starts with a UTF-8 byte-order mark; expected "{" (the reference reader ` +
      `refuses it)`;
  }
  if (text[0] === "[") return "header is an array; expected a JSON object of tensor entries";
  return `header starts with ${preview(text.slice(0, 12))}; expected a JSON object starting ` +
    `with "{" (the format's rule)`;
}

function jsonProblem(e: StrictJsonError): string {
  const where = `${jsonPath(e.path)} (character ${e.offset})`;
  switch (e.problem) {
    case "duplicate":
      return `header has ${e.reason} in ${where}; expected unique keys (the format forbids ` +
        `duplicates; a JSON.parse reader would silently keep the last)`;
    case "not-integer":
      return `header ${e.reason} at ${where}; expected integers (shapes and offsets are ` +
        `usize in the reference reader)`;
    default:
      return `header is not valid UTF-8 JSON (${e.message}); expected a JSON object`;
  }
}

/** One tensor entry: types first, then its size (overflow-checked) and its offsets. */
function checkEntry(key: string, raw: unknown, dataLen: number, fail: Fail): Entry {
  const at = `tensor ${preview(key)}`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    fail(`${at}: entry is ${jsonKind(raw)}; expected {dtype, shape, data_offsets}`);
  }
  const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
  if (!isDType(dtype)) {
    fail(
      `${at}: unknown dtype ${preview(dtype)}; expected one of ` +
        Object.keys(DTYPE_BYTES).join(", "),
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    fail(`${at}: shape ${preview(shape)} is invalid; expected non-negative integers`);
  }
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount)) {
    fail(`${at}: data_offsets ${preview(offs)}; expected [begin, end] byte offsets`);
  }
  const [begin, end] = offs as number[];
  const d = dtype as SafeDType, s = shape as number[];
  // Metadata::validate: the element count and byte size by checked multiplication, left to
  // right (ValidationOverflow); here the limit is 2^53 - 1, past which doubles are inexact.
  const n = checkedNumel(s);
  const want = n * DTYPE_BYTES[d];
  if (n < 0 || !Number.isSafeInteger(want)) {
    fail(
      `${at}: shape ${fmtShape(s)} of ${d} overflows: more than 2^53 - 1 elements or bytes ` +
        `(the reference reader refuses it too: ValidationOverflow)`,
    );
  }
  if (begin > end) fail(`${at}: data_offsets [${begin}, ${end}]; expected begin <= end`);
  if (end > dataLen) {
    fail(
      `${at}: data_offsets [${begin}, ${end}] run past the data area (${dataLen} bytes after ` +
        `the header); expected end <= ${dataLen} (truncated file?)`,
    );
  }
  if (end - begin !== want) {
    fail(
      `${at}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes; expected ${want} ` +
        `(shape ${fmtShape(s)} of ${d}, ${DTYPE_BYTES[d]} bytes each)`,
    );
  }
  return { key, dtype: d, shape: s, begin, end };
}

/** Product of a shape, or -1 when a partial product passes 2^53 - 1 (as checked_mul would). */
function checkedNumel(shape: readonly number[]): number {
  let p = 1;
  for (const d of shape) {
    p *= d;
    if (p > Number.MAX_SAFE_INTEGER) return -1;
  }
  return p;
}

/**
 * Metadata::validate and read_metadata: sorted by offsets, every tensor starts where the
 * previous ended (InvalidOffset: no overlap, no hole, zero-size tensors included), and the
 * last ends at the end of the file (MetadataIncompleteBuffer; README: "The byte buffer needs
 * to be entirely indexed, and cannot contain holes").
 */
function checkCoverage(entries: Entry[], dataLen: number, fail: Fail): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let last: Entry | null = null;
  for (const e of entries) {
    if (last && e.begin < at) {
      fail(
        `tensors ${preview(last.key)} [${last.begin}, ${last.end}] and ${preview(e.key)} ` +
          `[${e.begin}, ${e.end}] overlap; expected disjoint data_offsets`,
      );
    }
    if (e.begin > at) {
      fail(
        `bytes [${at}, ${e.begin}) of the data area belong to no tensor (before tensor ` +
          `${preview(e.key)}); expected data_offsets contiguous from 0 (the format forbids holes)`,
      );
    }
    at = e.end;
    last = e;
  }
  const trailing = dataLen - at;
  if (trailing) {
    fail(
      `${trailing} bytes after the last tensor (the tensors end at ${at} of a ${dataLen}-byte ` +
        `data area); expected them to cover it exactly, as the reference reader requires ` +
        `(a wrong header length, or bytes appended?)`,
    );
  }
}

function checkMetadata(raw: unknown, name: string): Record<string, string> | null {
  if (raw === null) return null; // the reference reads Option<HashMap<String, String>>
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new InputFileError(
      name,
      `__metadata__ is ${jsonKind(raw)}; expected a string→string map or null`,
    );
  }
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") {
      throw new InputFileError(
        name,
        `__metadata__ key ${preview(k)} is ${jsonKind(v)}; expected a string→string map`,
      );
    }
  }
  return raw as Record<string, string>;
}

function jsonKind(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v} (${preview(v)})`;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The bytes as a T[] view when aligned, else an aligned copy. */
function typedView<T>(
  bytes: Uint8Array,
  width: number,
  make: (buf: ArrayBufferLike, off: number, len: number) => T,
): T {
  if (bytes.byteOffset % width === 0) {
    return make(bytes.buffer, bytes.byteOffset, bytes.byteLength / width);
  }
  const copy = bytes.slice();
  return make(copy.buffer, 0, copy.byteLength / width);
}

let f16Table: Uint32Array | null = null;
/** f32 bit patterns of all 65536 half-precision values (exact, NaN payloads kept). */
function halfTable(): Uint32Array {
  if (f16Table) return f16Table;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const e = (h >> 10) & 0x1f;
    let m = h & 0x3ff;
    if (e === 0x1f) t[h] = sign | 0x7f800000 | (m << 13);
    else if (e !== 0) t[h] = sign | ((e + 112) << 23) | (m << 13);
    else if (m === 0) t[h] = sign;
    else {
      let e32 = 113; // subnormal: m·2^-24; shift the leading one up to the implicit bit
      while ((m & 0x400) === 0) {
        m <<= 1;
        e32--;
      }
      t[h] = sign | (e32 << 23) | ((m & 0x3ff) << 13);
    }
  }
  return (f16Table = t);
}

/**
 * Float32 values of a float tensor: F32 as a view (an aligned copy if the view is misaligned),
 * F16 and BF16 widened exactly, F64 rounded to nearest. `name` labels errors.
 */
export function toFloat32(t: SafeTensor, name = "tensor"): Float32Array {
  requireLittleEndian();
  switch (t.dtype) {
    case "F32":
      return typedView(t.bytes, 4, (b, o, n) => new Float32Array(b, o, n));
    case "F64":
      return Float32Array.from(typedView(t.bytes, 8, (b, o, n) => new Float64Array(b, o, n)));
    case "F16":
    case "BF16": {
      const src = typedView(t.bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
      const out = new Float32Array(src.length);
      const bits = new Uint32Array(out.buffer);
      if (t.dtype === "BF16") {
        for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
      } else {
        const table = halfTable();
        for (let i = 0; i < src.length; i++) bits[i] = table[src[i]];
      }
      return out;
    }
    default:
      throw new Error(
        `${name}: dtype ${t.dtype} is not a float type; expected F32, F16, BF16, F64`,
      );
  }
}

/** Int32 values of an integer tensor: I32 as a view (copy if misaligned); I64, U32 range-checked. */
export function toInt32(t: SafeTensor, name = "tensor"): Int32Array {
  requireLittleEndian();
  const b = t.bytes;
  switch (t.dtype) {
    case "I32":
      return typedView(b, 4, (buf, o, n) => new Int32Array(buf, o, n));
    case "I64": {
      const pairs = typedView(b, 4, (buf, o, n) => new Int32Array(buf, o, n));
      const out = new Int32Array(pairs.length / 2);
      for (let i = 0; i < out.length; i++) {
        const lo = pairs[2 * i], hi = pairs[2 * i + 1];
        if (hi !== lo >> 31) {
          const v = new DataView(b.buffer, b.byteOffset + 8 * i, 8).getBigInt64(0, true);
          throw new InputFileError(
            name,
            `I64 value ${v} at index ${i} does not fit in int32; expected -2147483648..2147483647`,
          );
        }
        out[i] = lo;
      }
      return out;
    }
    case "U32": {
      const out = typedView(b, 4, (buf, o, n) => new Int32Array(buf, o, n));
      const i = out.findIndex((v) => v < 0);
      if (i >= 0) {
        throw new InputFileError(
          name,
          `U32 value ${out[i] >>> 0} at index ${i} does not fit in int32`,
        );
      }
      return out;
    }
    case "U8":
    case "BOOL":
      return Int32Array.from(b);
    case "I8":
      return Int32Array.from(new Int8Array(b.buffer, b.byteOffset, b.byteLength));
    case "I16":
      return Int32Array.from(typedView(b, 2, (buf, o, n) => new Int16Array(buf, o, n)));
    case "U16":
      return Int32Array.from(typedView(b, 2, (buf, o, n) => new Uint16Array(buf, o, n)));
    default:
      throw new Error(`${name}: dtype ${t.dtype} is not an integer type; expected I32 or I64`);
  }
}

// ---- float narrowing (round to nearest, ties to even) --------------------------------------

/** IEEE half bit patterns of f32 values, rounded to nearest even; overflow goes to ±inf. */
export function float32ToF16Bits(x: Float32Array): Uint16Array {
  const src = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const f = src[i];
    const sign = (f >>> 16) & 0x8000;
    const abs = f & 0x7fffffff;
    let h: number;
    if (abs >= 0x7f800000) {
      h = abs > 0x7f800000 ? 0x7e00 | ((abs >>> 13) & 0x3ff) : 0x7c00; // NaN stays NaN
    } else if (abs >= 0x38800000) { // normal half range (|x| >= 2^-14)
      const e = (abs >>> 23) - 112;
      if (e >= 31) h = 0x7c00;
      else {
        const m = abs & 0x7fffff;
        h = (e << 10) | (m >>> 13);
        const rem = m & 0x1fff;
        if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry may round up to inf
      }
    } else {
      const v = Math.abs(x[i]) * 2 ** 24; // subnormal half: round(|x| / 2^-24); exact in f64
      h = Math.floor(v);
      const d = v - h;
      if (d > 0.5 || (d === 0.5 && (h & 1))) h++;
    }
    out[i] = sign | h;
  }
  return out;
}

/** bfloat16 bit patterns of f32 values, rounded to nearest even (NaNs stay quiet NaNs). */
export function float32ToBf16Bits(x: Float32Array): Uint16Array {
  const src = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const f = src[i];
    if ((f & 0x7fffffff) > 0x7f800000) out[i] = (f >>> 16) | 0x40;
    else out[i] = (f + 0x7fff + ((f >>> 16) & 1)) >>> 16;
  }
  return out;
}

// ---- writer --------------------------------------------------------------------------------

/** The typed arrays a tensor's values can be given in to the writer. */
export type TensorData =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | BigInt64Array
  | BigUint64Array;

/**
 * One tensor to write. `data` is the natural typed array of the dtype (F32 Float32Array, I32
 * Int32Array, I64 BigInt64Array, ...), or a Uint8Array of raw little-endian bytes for any dtype
 * (e.g. a SafeTensor's `bytes`). Conversions: F16/BF16 from a Float32Array (rounded to nearest
 * even) or a Uint16Array of bit patterns; I64 from an Int32Array. A function is called once when
 * the writer reaches the tensor, so that big files need only one tensor in memory at a time.
 */
export interface TensorSpec {
  /** The dtype written to the header. */
  dtype: SafeDType;
  /** Dimensions, outermost first. */
  shape: readonly number[];
  /** The values, or a function that makes them when the writer reaches the tensor. */
  data: TensorData | (() => TensorData);
}

const NATURAL: Partial<Record<SafeDType, string>> = {
  F32: "Float32Array",
  F64: "Float64Array",
  F16: "Uint16Array",
  BF16: "Uint16Array",
  I32: "Int32Array",
  U32: "Uint32Array",
  I16: "Int16Array",
  U16: "Uint16Array",
  I8: "Int8Array",
  I64: "BigInt64Array",
  U64: "BigUint64Array",
};

const rawBytes = (a: TensorData) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Little-endian bytes of one tensor, after checking its dtype, shape and length. */
function tensorBytes(key: string, spec: TensorSpec, data: TensorData): Uint8Array {
  const n = numel(spec.shape);
  const want = n * DTYPE_BYTES[spec.dtype];
  const at = `tensor "${key}" (${spec.dtype} ${fmtShape(spec.shape)})`;
  let out: Uint8Array;
  const kind = data.constructor.name;
  if (data instanceof Uint8Array) out = data;
  else if ((spec.dtype === "F16" || spec.dtype === "BF16") && data instanceof Float32Array) {
    checkCount(at, data.length, n);
    out = rawBytes(spec.dtype === "F16" ? float32ToF16Bits(data) : float32ToBf16Bits(data));
  } else if (spec.dtype === "I64" && data instanceof Int32Array) {
    checkCount(at, data.length, n);
    out = rawBytes(BigInt64Array.from(data, (v) => BigInt(v)));
  } else if (NATURAL[spec.dtype] === kind) out = rawBytes(data);
  else {
    const natural = NATURAL[spec.dtype];
    throw new Error(
      `${at}: data is a ${kind}; expected ${natural ? `a ${natural} or ` : ""}` +
        `a Uint8Array of raw bytes`,
    );
  }
  if (out.byteLength !== want) {
    throw new Error(`${at}: data has ${out.byteLength} bytes; expected ${want}`);
  }
  return out;
}

function checkCount(at: string, got: number, want: number): void {
  if (got !== want) throw new Error(`${at}: data has ${got} values; expected ${want}`);
}

/** Unicode code-point order (= UTF-8 byte order, as Rust sorts the names). */
function codePointCompare(a: string, b: string): number {
  const ia = a[Symbol.iterator](), ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next(), y = ib.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d) return d;
  }
}

interface Plan {
  header: Uint8Array;
  order: [string, TensorSpec][];
  dataLen: number;
}

/** The header bytes and data order for a set of tensors (validates names, shapes, metadata). */
function plan(tensors: Record<string, TensorSpec>, metadata?: Record<string, string>): Plan {
  const order = Object.entries(tensors);
  for (const [key, spec] of order) {
    const at = `tensor "${key}"`;
    if (key === "__metadata__") throw new Error(`${at}: that name is reserved for metadata`);
    if (!isDType(spec.dtype)) {
      throw new Error(`${at}: unknown dtype ${JSON.stringify(spec.dtype)}`);
    }
    if (!spec.shape.every(isCount)) {
      throw new Error(`${at}: shape ${JSON.stringify(spec.shape)}; expected non-negative integers`);
    }
  }
  order.sort(([ka, a], [kb, b]) =>
    DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || codePointCompare(ka, kb)
  );
  const head: Record<string, unknown> = {};
  if (metadata) head.__metadata__ = checkMetadata(metadata, "metadata");
  let offset = 0;
  for (const [key, spec] of order) {
    const len = numel(spec.shape) * DTYPE_BYTES[spec.dtype];
    head[key] = { dtype: spec.dtype, shape: [...spec.shape], data_offsets: [offset, offset + len] };
    offset += len;
  }
  const json = new TextEncoder().encode(JSON.stringify(head));
  const padded = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  return { header, order, dataLen: offset };
}

const dataOf = (spec: TensorSpec) => typeof spec.data === "function" ? spec.data() : spec.data;

/** The bytes of a safetensors file holding `tensors` (and `metadata`, if given). */
export function encodeSafetensors(
  tensors: Record<string, TensorSpec>,
  metadata?: Record<string, string>,
): Uint8Array {
  requireLittleEndian();
  const p = plan(tensors, metadata);
  const out = new Uint8Array(p.header.length + p.dataLen);
  out.set(p.header);
  let at = p.header.length;
  for (const [key, spec] of p.order) {
    const b = tensorBytes(key, spec, dataOf(spec));
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * Writes a safetensors file atomically: a temp file in the same directory, renamed over `path`
 * once complete. On any error the temp file is removed and `path` is left as it was.
 * Returns the file size in bytes.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorSpec>,
  metadata?: Record<string, string>,
): Promise<number> {
  requireLittleEndian();
  let p: Plan;
  try {
    p = plan(tensors, metadata);
  } catch (e) {
    throw new Error(`${path}: not written: ${errText(e)}`, { cause: e });
  }
  return await writeAtomicWith(path, async (file) => {
    await writeAll(file, p.header);
    for (const [key, spec] of p.order) await writeAll(file, tensorBytes(key, spec, dataOf(spec)));
    return p.header.length + p.dataLen;
  });
}
