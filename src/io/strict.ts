// Pieces the strict readers share: an error type that names the file, bounded previews of
// untrusted values for messages, and a JSON parser as strict as serde_json (which the
// safetensors reference reader uses) where JSON.parse is lenient.
//
// Why not JSON.parse: it keeps the last of duplicate keys silently, turns `0.0` and `4e0` into
// integers (so a reader cannot tell it was not given an integer), and has no depth limit (a
// 16M-deep `[[…]]` costs minutes before anything can refuse it).

/** A file (or named input) that cannot be used as given. The message starts with `file: `. */
export class InputFileError extends Error {
  constructor(readonly file: string, reason: string, options?: ErrorOptions) {
    super(`${file}: ${reason}`, options);
    this.name = "InputFileError";
  }
}

/** The longest piece of an untrusted string an error message repeats. */
export const ECHO_CHARS = 80;

/** `s` cut to `max` characters, with "…" when cut. */
export function clip(s: string, max = ECHO_CHARS): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

/**
 * A JSON-like rendering of an untrusted value in at most about `max` characters: strings are
 * clipped before quoting, arrays and objects show their first items only, so the cost is
 * bounded whatever the value's size or depth.
 */
export function preview(v: unknown, max = ECHO_CHARS): string {
  if (typeof v === "string") return JSON.stringify(clip(v, max));
  return clip(render(v, 3, Math.min(max, 24)), max);
}

function render(v: unknown, depth: number, max: number): string {
  if (typeof v === "string") return JSON.stringify(clip(v, max));
  if (v === null || typeof v !== "object") return String(v);
  if (depth === 0) return Array.isArray(v) ? "[…]" : "{…}";
  const parts: string[] = [];
  let more = false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length && !(more = i === 8); i++) {
      parts.push(render(v[i], depth - 1, max));
    }
    return `[${parts.join(",")}${more ? ",…" : ""}]`;
  }
  for (const k in v) {
    if ((more = parts.length === 4)) break;
    const item = render((v as Record<string, unknown>)[k], depth - 1, max);
    parts.push(`${JSON.stringify(clip(k, max))}:${item}`);
  }
  return `{${parts.join(",")}${more ? ",…" : ""}}`;
}

/** "a, b, c, … and 1,599,997 more": the first `n` items (each clipped) and a count of the rest. */
export function listSome(items: readonly string[], n = 10, sep = ", "): string {
  const shown = items.slice(0, n).map((s) => clip(s, 2 * ECHO_CHARS));
  if (items.length > n) shown.push(`… and ${(items.length - n).toLocaleString("en-US")} more`);
  return shown.join(sep);
}

// ---- strict JSON ---------------------------------------------------------------------------

export type JsonProblem = "syntax" | "duplicate" | "not-integer" | "depth";

/** Where and why strict parsing failed; `path` leads from the root to the bad value. */
export class StrictJsonError extends Error {
  constructor(
    readonly problem: JsonProblem,
    readonly reason: string,
    readonly offset: number,
    readonly path: (string | number)[] = [],
  ) {
    super(reason);
    this.name = "StrictJsonError";
  }

  /** Sets the message to `reason at $["a"][0] (character N)` once the path is complete. */
  located(): this {
    this.message = `${this.reason} at ${jsonPath(this.path)} (character ${this.offset})`;
    return this;
  }
}

/** `$["a"]["shape"][0]`-style path, each key clipped. */
export function jsonPath(path: readonly (string | number)[]): string {
  const steps = path.slice(0, 8).map((p) => `[${typeof p === "number" ? p : preview(p)}]`);
  return `$${steps.join("")}${path.length > 8 ? "…" : ""}`;
}

export interface StrictJsonOptions {
  /** Refuse numbers written with a fraction or exponent (`0.0`, `4e0`). */
  integersOnly?: boolean;
  /** Deepest nesting of arrays and objects (serde_json's default recursion limit: 128). */
  maxDepth?: number;
}

/**
 * JSON.parse, strictly: RFC 8259 syntax, no duplicate keys in any object, nesting at most
 * `maxDepth`, no lone surrogate escapes (as serde_json), optionally integers only. Linear time.
 * Throws StrictJsonError.
 */
export function parseJsonStrict(text: string, opts: StrictJsonOptions = {}): unknown {
  const p = new Parser(text, opts.integersOnly ?? false, opts.maxDepth ?? 128);
  try {
    const v = p.value(0);
    p.space();
    if (p.i < text.length) p.fail("syntax", `unexpected ${p.describe()} after the JSON value`);
    return v;
  } catch (e) {
    throw e instanceof StrictJsonError ? e.located() : e;
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

class Parser {
  i = 0;
  constructor(readonly s: string, readonly integersOnly: boolean, readonly maxDepth: number) {}

  fail(problem: JsonProblem, reason: string, at = this.i): never {
    throw new StrictJsonError(problem, reason, at);
  }

  describe(): string {
    return this.i >= this.s.length ? "end of text" : `character ${preview(this.s[this.i])}`;
  }

  space(): void {
    const s = this.s;
    let i = this.i;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    }
    this.i = i;
  }

  value(depth: number): unknown {
    this.space();
    const c = this.s[this.i];
    if (c === "{" || c === "[") {
      if (depth >= this.maxDepth) {
        this.fail("depth", `arrays and objects nest deeper than ${this.maxDepth}`);
      }
      return c === "{" ? this.object(depth + 1) : this.array(depth + 1);
    }
    if (c === '"') return this.string();
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    return this.fail("syntax", `unexpected ${this.describe()}; expected a JSON value`);
  }

  /** Runs `fn` for the element at `key`, adding `key` to the path of an error from inside. */
  within<T>(key: string | number, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof StrictJsonError) e.path.unshift(key);
      throw e;
    }
  }

  object(depth: number): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    this.i++;
    this.space();
    if (this.s[this.i] === "}") {
      this.i++;
      return o;
    }
    for (;;) {
      this.space();
      if (this.s[this.i] !== '"') {
        this.fail("syntax", `unexpected ${this.describe()}; expected a key`);
      }
      const at = this.i;
      const key = this.string();
      if (Object.hasOwn(o, key)) this.fail("duplicate", `key ${preview(key)} twice`, at);
      this.space();
      if (this.s[this.i] !== ":") {
        this.fail("syntax", `unexpected ${this.describe()}; expected ":"`);
      }
      this.i++;
      const v = this.within(key, () => this.value(depth));
      // "__proto__" as a plain assignment would set the prototype, not a key (JSON.parse too
      // makes it an own property).
      if (key === "__proto__") {
        Object.defineProperty(o, key, {
          value: v,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else o[key] = v;
      this.space();
      const c = this.s[this.i++];
      if (c === "}") return o;
      if (c !== ",") {
        this.fail("syntax", `unexpected ${this.describe()}; expected "," or "}"`, --this.i);
      }
    }
  }

  array(depth: number): unknown[] {
    const a: unknown[] = [];
    this.i++;
    this.space();
    if (this.s[this.i] === "]") {
      this.i++;
      return a;
    }
    for (;;) {
      a.push(this.within(a.length, () => this.value(depth)));
      this.space();
      const c = this.s[this.i++];
      if (c === "]") return a;
      if (c !== ",") {
        this.fail("syntax", `unexpected ${this.describe()}; expected "," or "]"`, --this.i);
      }
    }
  }

  number(): number {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (!m) return this.fail("syntax", `malformed number`);
    if (this.integersOnly && (m[1] || m[2])) {
      this.fail("not-integer", `number ${clip(m[0], 24)} is not an integer`);
    }
    this.i += m[0].length;
    return Number(m[0]);
  }

  string(): string {
    const s = this.s;
    const open = this.i;
    let i = open + 1, start = i, out = "";
    for (;;) {
      if (i >= s.length) this.fail("syntax", "unterminated string", open);
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        this.i = i + 1;
        return out + s.slice(start, i);
      }
      if (c < 0x20) this.fail("syntax", "unescaped control character in a string", i);
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += s.slice(start, i);
      const [text, next] = this.escape(i);
      out += text;
      i = start = next;
    }
  }

  /** The text of the escape at `i` (a backslash) and the index after it. */
  escape(i: number): [string, number] {
    const s = this.s, e = s[i + 1];
    if (e !== "u") {
      if (e === undefined || !Object.hasOwn(ESCAPES, e)) this.fail("syntax", "bad escape", i);
      return [ESCAPES[e], i + 2];
    }
    const hi = this.hex4(i);
    if (hi >= 0xdc00 && hi <= 0xdfff) this.fail("syntax", "lone low surrogate escape", i);
    if (hi < 0xd800 || hi > 0xdbff) return [String.fromCharCode(hi), i + 6];
    const lo = s[i + 6] === "\\" && s[i + 7] === "u" ? this.hex4(i + 6) : -1;
    if (lo < 0xdc00 || lo > 0xdfff) this.fail("syntax", "lone high surrogate escape", i);
    return [String.fromCharCode(hi, lo), i + 12];
  }

  hex4(i: number): number {
    const h = this.s.slice(i + 2, i + 6);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail("syntax", "bad \\u escape", i);
    return parseInt(h, 16);
  }
}
