// Seeded fuzzing of the readers that take files from strangers: safetensors (src/io/safetensors.ts),
// CLIP checkpoints' config.json (src/clip/checkpoint.ts) and images (src/clip/preprocess.ts).
//
//   deno run -A scripts/fuzz.ts [--n 100000] [--seed 1] [--examples 5]
//
// Each case mutates a real file (byte flips, header-length changes, truncation, appended bytes,
// JSON edits: numbers made huge, negative, float or strings, duplicate keys, deleted fields,
// nested shapes; image header sizes) and reads it. Outcomes:
//   typed-error    an InputFileError (ImageLoadError for images) whose message starts with, or
//                  names, the file: the only acceptable failure;
//   valid-load     a load that an independent validator accepts (below);
//   crash          any other exception (TypeError, RangeError, ...);
//   silent-accept  a load of a file known to be malformed, or one the validator refuses;
//   false-reject   a typed error for a file the validator finds valid.
// The safetensors validator re-derives everything from the bytes with other means (JSON.parse,
// BigInt sizes, token counts for duplicates, a regex for non-integer numbers) and compares the
// reader's result tensor by tensor. One JSON line goes to stdout; the exit code is 1 when a
// crash, silent accept or false reject occurred. test/fuzz_test.ts runs a few thousand cases.

import { concatBytes } from "../src/io/files.ts";
import { crc32 } from "../src/io/png.ts";
import { parseFlags, wholeFlag } from "../src/cli/common.ts";
import { join } from "node:path";
import { sharp } from "../src/io/sharp.ts";
import { mulberry32 } from "../src/io/rng.ts";
import {
  DTYPE_BYTES,
  encodeSafetensors,
  parseSafetensors,
  type SafeTensor,
  type Safetensors,
  toFloat32,
  toInt32,
} from "../src/io/safetensors.ts";
import { InputFileError } from "../src/io/strict.ts";
import { type ClipWeights, loadClipWeights } from "../src/clip/checkpoint.ts";
import { canonicalShapes } from "../src/clip/layout.ts";
import { validateConfig } from "../src/clip/config.ts";
import { ImageLoadError, preprocessImage } from "../src/clip/preprocess.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const TINY_A = join(ROOT, "fixtures/oracle/reference/tiny-a/hf");
const IMAGES = join(ROOT, "fixtures/oracle/images");

export type Outcome = "typed-error" | "valid-load" | "crash" | "silent-accept" | "false-reject";
/** What a mutation is known to do: "bad" must fail, "good" must load, "?" either. */
type Expect = "bad" | "good" | "?";

interface Mutant {
  kind: string;
  bytes: Uint8Array;
  expect: Expect;
}

/** A seeded source of choices. */
class Rand {
  next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function flipBytes(r: Rand, b: Uint8Array, lo: number, hi: number, k: number): Uint8Array {
  const out = b.slice();
  for (let i = 0; i < k; i++) out[lo + r.int(Math.max(1, hi - lo))] ^= 1 + r.int(255);
  return out;
}

function truncate(r: Rand, b: Uint8Array): Uint8Array {
  return b.subarray(
    0,
    r.chance(0.5) ? b.length - 1 - r.int(Math.min(64, b.length)) : r.int(b.length),
  );
}

function appendBytes(r: Rand, b: Uint8Array): Uint8Array {
  return concatBytes(b, Uint8Array.from({ length: 1 + r.int(16) }, () => r.int(256)));
}

// ---- safetensors -------------------------------------------------------------------------

interface StFile {
  name: string;
  bytes: Uint8Array;
  headerLen: number;
  header: Record<string, unknown>;
}

function splitSt(name: string, bytes: Uint8Array): StFile {
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(dec.decode(bytes.subarray(8, 8 + headerLen)));
  return { name, bytes, headerLen, header };
}

/** A file with `headerText` as its header (length fixed up) and `data` after it. */
function withHeader(headerText: string, data: Uint8Array): Uint8Array {
  const h = enc.encode(headerText);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(h.length), true);
  return concatBytes(len, h, data);
}

const dataOf = (f: StFile) => f.bytes.subarray(8 + f.headerLen);
const tensorKeys = (f: StFile) => Object.keys(f.header).filter((k) => k !== "__metadata__");

/** A small file with every kind of tensor the readers meet: floats, ints, scalar, zero-size. */
function smallSafetensors(r: Rand): Uint8Array {
  const f32 = (n: number) => Float32Array.from({ length: n }, () => r.next() * 2 - 1);
  return encodeSafetensors({
    w: { dtype: "F32", shape: [3, 4], data: f32(12) },
    h: { dtype: "F16", shape: [5], data: f32(5) },
    b: { dtype: "BF16", shape: [2, 2], data: f32(4) },
    i: { dtype: "I64", shape: [3], data: Int32Array.of(-1, 0, 7) },
    u: { dtype: "U8", shape: [7], data: Uint8Array.from({ length: 7 }, (_, k) => k) },
    z: { dtype: "F32", shape: [0, 3], data: new Float32Array(0) },
    s: { dtype: "F32", shape: [], data: f32(1) },
  }, { format: "pt" });
}

/** JSON text of the header with one value's text replaced by `raw` (any token). */
function replaceValue(
  header: Record<string, unknown>,
  set: (h: Record<string, unknown>) => void,
  raw: string,
) {
  const copy = structuredClone(header);
  set(copy);
  return JSON.stringify(copy).replace(`"${MARK}"`, raw);
}
const MARK = "@@MARK@@";

const BAD_NUMBERS = [
  (v: number) => `${v}.0`,
  (v: number) => `${v}e0`,
  (v: number) => `${v / 10}E1`,
  (v: number) => `-${v || 1}`,
  (v: number) => `"${v}"`,
  () => "18446744073709551616",
  () => "9007199254740993",
  () => "1e400",
  () => "null",
  () => "true",
  () => "[]",
];

function mutateNumber(r: Rand, f: StFile): Mutant {
  const key = r.pick(tensorKeys(f));
  const e = f.header[key] as { shape: number[]; data_offsets: number[] };
  const field = e.shape.length && r.chance(0.5) ? "shape" : "data_offsets";
  const arr = (e as unknown as Record<string, number[]>)[field];
  const i = r.int(arr.length);
  if (r.chance(0.3)) { // still an integer: the validator decides
    const delta = r.pick([-1, 1, 2, 4, 1024]);
    const text = replaceValue(f.header, (h) => {
      (h[key] as Record<string, number[]>)[field][i] = Math.max(0, arr[i] + delta);
    }, "");
    return { kind: `int-${field}`, bytes: withHeader(text, dataOf(f)), expect: "?" };
  }
  const raw = r.pick(BAD_NUMBERS)(arr[i]);
  const text = replaceValue(f.header, (h) => {
    (h[key] as Record<string, unknown[]>)[field][i] = MARK;
  }, raw);
  return { kind: `number-${field}`, bytes: withHeader(text, dataOf(f)), expect: "bad" };
}

function duplicateKey(r: Rand, f: StFile): Mutant {
  const text = dec.decode(f.bytes.subarray(8, 8 + f.headerLen)).trimEnd();
  const keys = tensorKeys(f);
  const choice = r.int(3);
  let out: string;
  if (choice === 0) { // a whole tensor entry twice (JSON.parse would keep the second)
    const k = r.pick(keys);
    out = `{${JSON.stringify(k)}:${JSON.stringify(f.header[k])},${text.slice(1)}`;
  } else if (choice === 1) { // a field twice inside an entry
    const k = r.pick(keys);
    const e = f.header[k] as { dtype: string };
    out = text.replace(`${JSON.stringify(k)}:{`, `${JSON.stringify(k)}:{"dtype":"${e.dtype}",`);
  } else { // a metadata key twice
    out = text.replace(`"__metadata__":{`, `"__metadata__":{"format":"pt",`);
    if (out === text) out = `{"__metadata__":{},"__metadata__":null,${text.slice(1)}`;
  }
  return { kind: "duplicate-key", bytes: withHeader(out, dataOf(f)), expect: "bad" };
}

function editEntry(r: Rand, f: StFile): Mutant {
  const key = r.pick(tensorKeys(f));
  const h = structuredClone(f.header);
  const e = h[key] as Record<string, unknown>;
  const what = r.int(6);
  let kind: string, expect: Expect = "?";
  if (what === 0) {
    delete e[r.pick(["dtype", "shape", "data_offsets"])];
    [kind, expect] = ["delete-field", "bad"];
  } else if (what === 1) {
    delete h[key];
    kind = "delete-tensor";
  } else if (what === 2) {
    let s: unknown = e.shape;
    for (let d = 1 + r.int(r.chance(0.5) ? 4 : 400); d > 0; d--) s = [s];
    e.shape = s;
    [kind, expect] = ["nested-shape", "bad"];
  } else if (what === 3) {
    e.dtype = r.pick([...Object.keys(DTYPE_BYTES), "F17", "f32", "x".repeat(1 + r.int(100000))]);
    kind = "dtype";
  } else if (what === 4) {
    const other = h[r.pick(tensorKeys(f))] as Record<string, unknown>;
    [e.data_offsets, other.data_offsets] = [other.data_offsets, e.data_offsets];
    kind = "swap-offsets";
  } else {
    h[`${"k".repeat(1 + r.int(100000))}`] = e;
    delete h[key];
    kind = "long-name"; // any name is allowed
  }
  return { kind, bytes: withHeader(JSON.stringify(h), dataOf(f)), expect };
}

function editMetadata(r: Rand, f: StFile): Mutant {
  const h = structuredClone(f.header);
  const what = r.int(5);
  const set = [null, { a: "b", format: "pt" }, 3, ["pt"], { format: 1 }][what];
  h.__metadata__ = set;
  const expect: Expect = what < 2 ? "good" : "bad";
  return { kind: `metadata-${what}`, bytes: withHeader(JSON.stringify(h), dataOf(f)), expect };
}

function editHeaderText(r: Rand, f: StFile): Mutant {
  const text = dec.decode(f.bytes.subarray(8, 8 + f.headerLen));
  const what = r.int(4);
  if (what === 0) {
    const pad = r.pick([" ", "\n", "\t", "\r\n"]).repeat(1 + r.int(16));
    return { kind: "pad", bytes: withHeader(text + pad, dataOf(f)), expect: "good" };
  }
  const prefix = ["\uFEFF", " ", "\n"][what - 1];
  return { kind: `prefix-${what}`, bytes: withHeader(prefix + text, dataOf(f)), expect: "bad" };
}

function moveData(r: Rand, f: StFile): Mutant {
  const k = 1 + r.int(16);
  const h = structuredClone(f.header);
  for (const key of tensorKeys(f)) {
    const e = h[key] as { data_offsets: number[] };
    e.data_offsets = e.data_offsets.map((o) => o + k);
  }
  const data = concatBytes(new Uint8Array(k), dataOf(f));
  return { kind: "hole", bytes: withHeader(JSON.stringify(h), data), expect: "bad" };
}

function headerLength(r: Rand, f: StFile): Mutant {
  const out = f.bytes.slice();
  const v = new DataView(out.buffer);
  const delta = r.chance(0.8) ? r.pick([-1, 1]) * (1 + r.int(16)) : 0;
  const n = delta
    ? Math.max(0, f.headerLen + delta)
    : r.pick([0, 2 ** 32 + f.headerLen, 2 ** 53, out.length]);
  if (n === f.headerLen) return headerLength(r, f);
  v.setBigUint64(0, BigInt(n), true);
  return { kind: "header-length", bytes: out, expect: "bad" };
}

function mutateSt(r: Rand, f: StFile): Mutant {
  const n = f.bytes.length, end = 8 + f.headerLen;
  switch (r.int(12)) {
    case 0: {
      const inData = r.chance(0.2);
      const [lo, hi] = inData ? [end, n] : [8, end];
      const expect: Expect = inData ? "good" : "?";
      return {
        kind: inData ? "flip-data" : "flip-header",
        bytes: flipBytes(r, f.bytes, lo, hi, 1 + r.int(4)),
        expect,
      };
    }
    case 1:
      return headerLength(r, f);
    case 2:
      return { kind: "truncate", bytes: truncate(r, f.bytes), expect: "bad" };
    case 3:
      return { kind: "append", bytes: appendBytes(r, f.bytes), expect: "bad" };
    case 4:
    case 5:
      return mutateNumber(r, f);
    case 6:
      return duplicateKey(r, f);
    case 7:
    case 8:
      return editEntry(r, f);
    case 9:
      return editMetadata(r, f);
    case 10:
      return editHeaderText(r, f);
    default:
      return moveData(r, f);
  }
}

type Entry = [string, { dtype: string; shape: number[]; data_offsets: [number, number] }];
interface Valid {
  ok: true;
  headerLen: number;
  metadata: unknown;
  entries: Entry[];
}
/** The file's verdict by independent means, and its tensors when valid. */
type Verdict = { ok: false; why: string } | Valid;

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function nestingDepth(text: string): number {
  let d = 0, max = 0;
  for (const c of text) {
    if (c === "[" || c === "{") max = Math.max(max, ++d);
    else if (c === "]" || c === "}") d--;
  }
  return max;
}

function occurrences(text: string, token: string): number {
  return text.split(token).length - 1;
}

function verdict(bytes: Uint8Array): Verdict {
  const no = (why: string): Verdict => ({ ok: false, why });
  if (bytes.length < 8) return no("shorter than 8 bytes");
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > 1e8 || 8 + n > bytes.length) return no("header length");
  let text: string, h: unknown;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      bytes.subarray(8, 8 + n),
    );
    h = JSON.parse(text);
  } catch {
    return no("not UTF-8 JSON");
  }
  if (text[0] !== "{") return no("does not start with {");
  const bare = text.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/true|false|null/g, "");
  if (/[.eE]/.test(bare)) return no("a non-integer number");
  if (nestingDepth(bare) > 128) return no("nested too deep");
  const all = Object.entries(h as Record<string, unknown>);
  const entries = all.filter(([k]) => k !== "__metadata__") as Entry[];
  if (occurrences(text, '"__metadata__"') > 1) return no("duplicate __metadata__");
  for (const field of ['"dtype"', '"shape"', '"data_offsets"']) {
    if (occurrences(text, field) !== entries.length) return no(`duplicate or missing ${field}`);
  }
  const meta = (h as Record<string, unknown>).__metadata__;
  if (meta !== undefined && meta !== null) {
    if (typeof meta !== "object" || Array.isArray(meta)) return no("metadata not a map");
    if (!Object.values(meta).every((v) => typeof v === "string")) return no("metadata value");
  }
  const why = entriesProblem(entries, bytes.length - 8 - n);
  return why ? no(why) : { ok: true, headerLen: n, metadata: meta ?? null, entries };
}

function entriesProblem(entries: [string, unknown][], dataLen: number): string | null {
  const spans: [number, number][] = [];
  for (const [, e] of entries) {
    if (typeof e !== "object" || e === null || Array.isArray(e)) return "entry not an object";
    const { dtype, shape, data_offsets: o } = e as Record<string, unknown>;
    if (typeof dtype !== "string" || !Object.hasOwn(DTYPE_BYTES, dtype)) return "dtype";
    if (!Array.isArray(shape) || !shape.every(isCount)) return "shape";
    if (!Array.isArray(o) || o.length !== 2 || !o.every(isCount) || o[0] > o[1]) return "offsets";
    let p = 1n;
    for (const d of shape) {
      p *= BigInt(d);
      if (p > BigInt(Number.MAX_SAFE_INTEGER)) return "size overflow";
    }
    const size = p * BigInt(DTYPE_BYTES[dtype as keyof typeof DTYPE_BYTES]);
    if (size > BigInt(Number.MAX_SAFE_INTEGER) || size !== BigInt(o[1] - o[0])) return "size";
    spans.push([o[0], o[1]]);
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [b, e] of spans) {
    if (b !== at) return "not contiguous";
    at = e;
  }
  return at === dataLen ? null : "data area not covered";
}

/** Null when `got` is what the verdict says the file holds (views included). */
function resultProblem(v: Valid, bytes: Uint8Array, got: Safetensors): string | null {
  if (got.tensors.size !== v.entries.length) return "tensor count";
  if (JSON.stringify(got.metadata) !== JSON.stringify(v.metadata)) return "metadata";
  const dataStart = bytes.byteOffset + 8 + v.headerLen;
  for (const [name, e] of v.entries) {
    const t = got.tensors.get(name);
    if (!t || t.dtype !== e.dtype || JSON.stringify(t.shape) !== JSON.stringify(e.shape)) {
      return `tensor ${name.slice(0, 40)}`;
    }
    if (t.bytes.buffer !== bytes.buffer || t.bytes.byteOffset !== dataStart + e.data_offsets[0]) {
      return `view of ${name.slice(0, 40)}`;
    }
    if (t.bytes.byteLength !== e.data_offsets[1] - e.data_offsets[0]) return "length";
    const values = readValues(t, name);
    if (values !== null && values !== t.shape.reduce((a, b) => a * b, 1)) return "value count";
  }
  return null;
}

/** The number of values a tensor converts to (null when its type has no converter or a value
 * does not fit in int32: a typed error, checked by type). */
function readValues(t: SafeTensor, name: string): number | null {
  try {
    if (["F32", "F16", "BF16", "F64"].includes(t.dtype)) return toFloat32(t, name).length;
    if (["I32", "I64", "U32", "U8", "BOOL", "I8", "I16", "U16"].includes(t.dtype)) {
      return toInt32(t, name).length;
    }
    return null;
  } catch (e) {
    if (e instanceof InputFileError) return null;
    throw e;
  }
}

function runSt(m: Mutant, caseName: string): { outcome: Outcome; note: string } {
  const v = verdict(m.bytes);
  const malformed = m.expect === "bad" || !v.ok;
  let got: Safetensors;
  try {
    got = parseSafetensors(m.bytes, caseName);
  } catch (e) {
    if (!(e instanceof InputFileError) || !e.message.startsWith(`${caseName}: `)) {
      return { outcome: "crash", note: errLine(e) };
    }
    if (e.message.length > 2000) {
      return { outcome: "crash", note: `message ${e.message.length} chars` };
    }
    if (!malformed) return { outcome: "false-reject", note: errLine(e) };
    return { outcome: "typed-error", note: "" };
  }
  if (!v.ok) return { outcome: "silent-accept", note: `validator: ${v.why}` };
  if (m.expect === "bad") return { outcome: "silent-accept", note: "known malformed" };
  const p = resultProblem(v, m.bytes, got);
  return p
    ? { outcome: "silent-accept", note: `result: ${p}` }
    : { outcome: "valid-load", note: "" };
}

// ---- config.json -------------------------------------------------------------------------

/** Fields whose value the weights fix: any other value must be refused. */
const SHAPE_FIELDS = new Set([
  "projection_dim",
  "vision_config.hidden_size",
  "vision_config.intermediate_size",
  "vision_config.num_hidden_layers",
  "vision_config.image_size",
  "vision_config.patch_size",
  "text_config.hidden_size",
  "text_config.intermediate_size",
  "text_config.num_hidden_layers",
  "text_config.max_position_embeddings",
  "text_config.vocab_size",
]);

const HOSTILE_VALUES: (() => unknown)[] = [
  () => 9007199254740991,
  () => 1e300,
  () => -1,
  () => 0,
  () => 1.5,
  () => "12",
  () => null,
  () => true,
  () => [],
  () => ({}),
  () => 100000,
  () => 1000,
  () => 3,
  () => "x".repeat(100000),
];

function leafPaths(o: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    typeof v === "object" && v !== null && !Array.isArray(v)
      ? leafPaths(v as Record<string, unknown>, `${prefix}${k}.`)
      : [`${prefix}${k}`]
  );
}

function setPath(o: Record<string, unknown>, path: string, v: unknown, remove = false): void {
  const keys = path.split(".");
  let at = o;
  for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
  if (remove) delete at[keys[keys.length - 1]];
  else at[keys[keys.length - 1]] = v;
}

function mutateConfig(r: Rand, config: Record<string, unknown>, text: string): Mutant {
  const c = structuredClone(config);
  const path = r.pick(leafPaths(config));
  const what = r.int(8);
  const json = (o: unknown, expect: Expect, kind: string): Mutant => ({
    kind,
    bytes: enc.encode(JSON.stringify(o, null, r.chance(0.5) ? 2 : undefined)),
    expect,
  });
  if (what <= 2) {
    const v = r.pick(HOSTILE_VALUES)();
    const old = path.split(".").reduce((o: unknown, k) => (o as Record<string, unknown>)[k], c);
    setPath(c, path, v);
    // null reads as absent (the default applies), so only other values are known to be wrong
    const fixed = SHAPE_FIELDS.has(path) && v !== null && JSON.stringify(v) !== JSON.stringify(old);
    return json(c, fixed ? "bad" : "?", `value ${path}=${JSON.stringify(v)?.slice(0, 20)}`);
  }
  if (what === 3) {
    setPath(c, path, undefined, true);
    return json(c, "?", "delete");
  }
  if (what === 4) {
    const out = text.replace(/"model_type": "clip"/, '"model_type": "clip", "model_type": "clip"');
    return { kind: "duplicate-key", bytes: enc.encode(out), expect: "bad" };
  }
  if (what === 5) {
    let v: unknown = 2;
    for (let d = 1 + r.int(300); d > 0; d--) v = [v];
    setPath(c, path, v);
    return json(c, SHAPE_FIELDS.has(path) ? "bad" : "?", "nested");
  }
  if (what === 6) {
    c[r.pick(["foo", "torch_dtype", "transformers_version"])] = "x";
    return json(c, "good", "extra-key");
  }
  const bytes = enc.encode(text);
  return r.chance(0.5)
    ? { kind: "flip", bytes: flipBytes(r, bytes, 0, bytes.length, 1 + r.int(3)), expect: "?" }
    : { kind: "truncate", bytes: truncate(r, bytes), expect: "?" };
}

/** Null when the weights are what the config says, in full. */
function weightsProblem(w: ClipWeights): string | null {
  try {
    validateConfig(w.config, "loaded");
  } catch (e) {
    return errLine(e);
  }
  const want = canonicalShapes(w.config);
  if (want.size !== w.tensors.size) return "tensor count";
  for (const [name, shape] of want) {
    const t = w.tensors.get(name);
    if (!t || JSON.stringify(t.shape) !== JSON.stringify(shape)) return `shape of ${name}`;
    if (t.data.length !== shape.reduce((a, b) => a * b, 1)) return `length of ${name}`;
    if (!t.data.every(Number.isFinite)) return `values of ${name}`;
  }
  return null;
}

async function runConfig(dir: string, m: Mutant): Promise<{ outcome: Outcome; note: string }> {
  await Deno.writeFile(join(dir, "config.json"), m.bytes);
  let w: ClipWeights;
  try {
    w = await loadClipWeights(dir);
  } catch (e) {
    const named = e instanceof InputFileError && e.message.startsWith(dir);
    if (!named || e.message.length > 4000) return { outcome: "crash", note: errLine(e) };
    if (m.expect === "good") return { outcome: "false-reject", note: errLine(e) };
    return { outcome: "typed-error", note: "" };
  }
  if (m.expect === "bad") return { outcome: "silent-accept", note: "known malformed" };
  const p = weightsProblem(w);
  return p ? { outcome: "silent-accept", note: p } : { outcome: "valid-load", note: "" };
}

// ---- images ------------------------------------------------------------------------------

const FUZZ_SIZE = 32;

const isPng = (b: Uint8Array) => b[0] === 0x89 && b[1] === 0x50;

/** Offset of a JPEG's SOFn height field, or -1. */
function jpegSof(b: Uint8Array): number {
  for (let i = 2; i + 9 < b.length;) {
    if (b[i] !== 0xff) return -1;
    const m = b[i + 1];
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return i + 5;
    i += 2 + ((b[i + 2] << 8) | b[i + 3]);
  }
  return -1;
}

const SIDES = [0, 1, 2, 7, 100, 4000, 16000, 65535, 100000, 2 ** 31 - 1];

/** Would the limit refuse a declared w×h (MAX_IMAGE_PIXELS, and resized to FUZZ_SIZE)? */
function overLimit(w: number, h: number): boolean {
  if (w === 0 || h === 0 || w * h > 50_000_000) return true;
  const s = FUZZ_SIZE, [rw, rh] = w <= h ? [s, Math.trunc(s * h / w)] : [Math.trunc(s * w / h), s];
  return rw * rh > 50_000_000;
}

function resize(r: Rand, b: Uint8Array): Mutant {
  const out = b.slice();
  const v = new DataView(out.buffer);
  let w = r.pick(SIDES), h = r.pick(SIDES);
  if (isPng(out)) {
    v.setUint32(16, w);
    v.setUint32(20, h);
    v.setUint32(29, crc32(out.subarray(12, 29)));
  } else {
    const at = jpegSof(out);
    if (at < 0) return { kind: "flip", bytes: flipBytes(r, b, 0, b.length, 1), expect: "?" };
    [w, h] = [w & 0xffff, h & 0xffff];
    v.setUint16(at, h);
    v.setUint16(at + 2, w);
  }
  // Over the limit must fail; under it the data no longer fits the size: either way.
  return { kind: "dimensions", bytes: out, expect: overLimit(w, h) ? "bad" : "?" };
}

function mutateImage(r: Rand, b: Uint8Array): Mutant {
  switch (r.int(5)) {
    case 0:
    case 1:
      return resize(r, b);
    case 2:
      return { kind: "flip", bytes: flipBytes(r, b, 0, b.length, 1 + r.int(3)), expect: "?" };
    case 3:
      return { kind: "truncate", bytes: truncate(r, b), expect: "?" };
    default:
      return { kind: "append", bytes: appendBytes(r, b), expect: "?" };
  }
}

async function runImage(path: string, m: Mutant): Promise<{ outcome: Outcome; note: string }> {
  await Deno.writeFile(path, m.bytes);
  let x: Float32Array;
  try {
    x = await preprocessImage(path, FUZZ_SIZE);
  } catch (e) {
    const named = e instanceof ImageLoadError && e.path === path && e.message.includes(path);
    if (!named || e.message.length > 2000) return { outcome: "crash", note: errLine(e) };
    if (m.expect === "good") return { outcome: "false-reject", note: errLine(e) };
    return { outcome: "typed-error", note: "" };
  }
  if (m.expect === "bad") return { outcome: "silent-accept", note: "over the size limit" };
  const ok = x.length === 3 * FUZZ_SIZE * FUZZ_SIZE && x.every(Number.isFinite);
  return ok ? { outcome: "valid-load", note: "" } : { outcome: "silent-accept", note: "pixels" };
}

/** Small real images: two fixtures and three made here (RGB PNG, grey PNG, JPEG). */
async function imageSeeds(r: Rand): Promise<{ ext: string; bytes: Uint8Array }[]> {
  const px = (w: number, h: number, c: 1 | 3) => {
    const data = Uint8Array.from({ length: w * h * c }, () => r.int(256));
    return sharp(data, { raw: { width: w, height: h, channels: c } });
  };
  return [
    { ext: "png", bytes: await Deno.readFile(join(IMAGES, "palette_color.png")) },
    { ext: "png", bytes: await Deno.readFile(join(IMAGES, "horse.png")) },
    { ext: "png", bytes: new Uint8Array(await px(40, 30, 3).png().toBuffer()) },
    { ext: "png", bytes: new Uint8Array(await px(17, 50, 1).png().toBuffer()) },
    { ext: "jpg", bytes: new Uint8Array(await px(48, 36, 3).jpeg().toBuffer()) },
  ];
}

// ---- the run -----------------------------------------------------------------------------

export interface FuzzReport {
  seed: number;
  n: number;
  seconds: number;
  perSecond: number;
  outcomes: Record<Outcome, number>;
  byTarget: Record<string, Partial<Record<Outcome, number>>>;
  slowestMs: number;
  slowest: string;
  examples: string[];
}

const errLine = (e: unknown) =>
  `${e instanceof Error ? e.name : typeof e}: ${
    String(e instanceof Error ? e.message : e).slice(0, 200)
  }`;

/** `n` cases, about 70% safetensors, 15% config.json, 15% images, in a fixed seeded order. */
export async function fuzz(n: number, seed: number, keep = 5): Promise<FuzzReport> {
  const r = new Rand(seed);
  const dir = await Deno.makeTempDir({ prefix: "antidote_fuzz_" });
  try {
    const st = [
      splitSt(
        join(TINY_A, "model.safetensors"),
        await Deno.readFile(join(TINY_A, "model.safetensors")),
      ),
      splitSt(join(dir, "small.safetensors"), smallSafetensors(r)),
    ];
    const configText = await Deno.readTextFile(join(TINY_A, "config.json"));
    const config = JSON.parse(configText);
    const modelDir = join(dir, "model");
    await Deno.mkdir(modelDir);
    await Deno.symlink(
      await Deno.realPath(join(TINY_A, "model.safetensors")),
      join(modelDir, "model.safetensors"),
    );
    const images = await imageSeeds(r);

    const outcomes: Record<Outcome, number> = {
      "typed-error": 0,
      "valid-load": 0,
      crash: 0,
      "silent-accept": 0,
      "false-reject": 0,
    };
    const byTarget: FuzzReport["byTarget"] = {};
    const examples: string[] = [];
    let slowestMs = 0, slowest = "";
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const pickTarget = r.next();
      const c0 = performance.now();
      let target: string, m: Mutant, res: { outcome: Outcome; note: string };
      if (pickTarget < 0.7) {
        const f = st[r.chance(0.3) ? 0 : 1];
        m = mutateSt(r, f);
        target = "safetensors";
        res = runSt(m, `${f.name}#${i}`);
      } else if (pickTarget < 0.85) {
        m = mutateConfig(r, config, configText);
        target = "config";
        res = await runConfig(modelDir, m);
      } else {
        const img = r.pick(images);
        m = mutateImage(r, img.bytes);
        target = "image";
        res = await runImage(join(dir, `case.${img.ext}`), m);
      }
      const ms = performance.now() - c0;
      if (ms > slowestMs) [slowestMs, slowest] = [ms, `#${i} ${target} ${m.kind}`];
      outcomes[res.outcome]++;
      const t = (byTarget[target] ??= {});
      t[res.outcome] = (t[res.outcome] ?? 0) + 1;
      const bad = res.outcome === "crash" || res.outcome === "silent-accept" ||
        res.outcome === "false-reject";
      if (bad && examples.length < keep) {
        examples.push(`#${i} ${target} ${m.kind}: ${res.outcome}: ${res.note}`);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    return {
      seed,
      n,
      seconds: Math.round(seconds * 10) / 10,
      perSecond: Math.round(n / seconds),
      outcomes,
      byTarget,
      slowestMs: Math.round(slowestMs),
      slowest,
      examples,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = parseFlags({
    args: Deno.args,
    options: {
      n: { type: "string" },
      seed: { type: "string" },
      examples: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log("usage: fuzz.ts [--n 100000] [--seed 1] [--examples 5]");
    Deno.exit(0);
  }
  const n = wholeFlag("n", values.n, 100_000, 0);
  const seed = wholeFlag("seed", values.seed, 1, 0);
  const keep = wholeFlag("examples", values.examples, 5, 0);
  const report = await fuzz(n, seed, keep);
  console.log(JSON.stringify(report));
  const o = report.outcomes;
  if (o.crash || o["silent-accept"] || o["false-reject"]) Deno.exit(1);
}
