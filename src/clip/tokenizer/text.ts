/**
 * Text cleaning and pre-tokenisation of CLIP's `simple_tokenizer.py`, reproduced exactly with the
 * semantics of CPython's `html.unescape`, `str.strip`, `str.lower` and the `regex` module.
 *
 * @module
 */

import { HTML5_ENTITIES, INVALID_CHARREFS, INVALID_CODEPOINTS } from "./html_entities.ts";

let entityTable: Map<string, string> | undefined;

/** The HTML5 named references, keyed as in Python's `html.entities.html5` ("amp;", "amp", ...). */
function entities(): Map<string, string> {
  if (entityTable) return entityTable;
  const table = new Map<string, string>();
  for (const entry of HTML5_ENTITIES.split(/\s+/)) {
    if (!entry) continue;
    const eq = entry.indexOf("=");
    let name = entry.slice(0, eq);
    const value = String.fromCodePoint(
      ...entry.slice(eq + 1).split(".").map((h) => parseInt(h, 16)),
    );
    if (name.endsWith("*")) {
      name = name.slice(0, -1);
      table.set(name, value);
    }
    table.set(name + ";", value);
  }
  entityTable = table;
  return table;
}

// Same pattern as CPython's html._charref (ASCII digits; a name is 1..32 code points).
const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function replaceCharref(_match: string, s: string): string {
  if (s[0] === "#") {
    const hex = s[1] === "x" || s[1] === "X";
    const digits = s.slice(hex ? 2 : 1).replace(/;$/, "");
    // Huge values only need to compare as > 0x10FFFF, so float precision does not matter.
    const num = parseInt(digits, hex ? 16 : 10);
    const remapped = INVALID_CHARREFS.get(num);
    if (remapped !== undefined) return String.fromCodePoint(remapped);
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return "\ufffd";
    if (INVALID_CODEPOINTS.has(num)) return "";
    return String.fromCodePoint(num);
  }
  const table = entities();
  const whole = table.get(s);
  if (whole !== undefined) return whole;
  // Longest prefix that is a known name (only the legacy, semicolon-less names can match here).
  const cps = Array.from(s);
  for (let x = cps.length - 1; x > 1; x--) {
    const value = table.get(cps.slice(0, x).join(""));
    if (value !== undefined) return value + cps.slice(x).join("");
  }
  return "&" + s;
}

/** CPython's `html.unescape`: named (HTML5) and numeric character references. */
export function htmlUnescape(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(CHARREF, replaceCharref);
}

// Python's str.isspace() characters (used by str.strip()).
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f" +
  "\\u205f\\u3000";
// The `regex` module's \s (Unicode White_Space): unlike JS \s it includes U+0085 and excludes
// U+FEFF.
const WS = "\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

const STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "gu");
const WS_RUN = new RegExp(`[${WS}]+`, "gu");

/** Python's `str.strip()` with no argument. */
export function pyStrip(text: string): string {
  return text.replace(STRIP, "");
}

/**
 * `whitespace_clean(basic_clean(text)).lower()` of `simple_tokenizer.py`, with `ftfy.fix_text`
 * taken as the identity (as in the reference cases): HTML-unescape twice, strip, collapse
 * whitespace runs to one space, strip, lower-case.
 */
export function cleanText(text: string): string {
  const unescaped = pyStrip(htmlUnescape(htmlUnescape(text)));
  return pyStrip(unescaped.replace(WS_RUN, " ")).toLowerCase();
}

/**
 * CLIP's split pattern,
 * `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
 * with `regex.IGNORECASE`, on lower-cased text. JS's `i` flag differs from the `regex` module's
 * (JS lets U+0345, which case-folds to ι, match `\p{L}`), so the pattern is written out without
 * it: on lower-cased text the only case-insensitive extra the `regex` module matches is ſ for s,
 * and it matches U+0345 with none of the three classes (the character is dropped).
 */
export const SPLIT_PATTERN = new RegExp(
  `<\\|[sſ]tartoftext\\|>|<\\|endoftext\\|>|'[sſ]|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|` +
    `[^${WS}\\p{L}\\p{N}\\u0345]+`,
  "gu",
);

/** The pre-tokens (`re.findall(pat, text)`) of an already cleaned text. */
export function splitWords(cleaned: string): string[] {
  return cleaned.match(SPLIT_PATTERN) ?? [];
}
