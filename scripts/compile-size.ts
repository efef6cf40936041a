// How much `deno task compile` embeds in the binary, measured without compiling (Deno's runtime
// for `deno compile`, denort, comes from a host that offline machines cannot reach). It reads the
// task's own flags from deno.json and sums the files the binary carries: the entry point's
// module graph (`deno info --json`), every --include path, and — with nodeModulesDir "manual",
// where `deno compile` ships the whole node_modules folder — node_modules less every --exclude;
// plus package.json. Identical files are stored once (as Deno does), so both sums are printed.
// Modules count as their source; Deno also stores each one transpiled to JavaScript (about
// 0.9 MiB more for purify.ts's graph), which only --verify sees.
// --command "deno compile ..." measures another command line instead of the task's (e.g. the
// task as it was).
//
// --verify runs the task's `deno compile` itself (without type-checking) with a stand-in runtime
// (DENORT_BIN=/bin/true: the binary it writes does not run, and is deleted) and prints the
// "Files:" total Deno reports beside the measured one.
//
// Usage: deno run --allow-read --allow-run [--allow-write] scripts/compile-size.ts [--json]
//        [--verify] [--command "deno compile ..."]   (--verify writes in a temp folder)

import { createHash } from "node:crypto";
import { join, relative, resolve } from "node:path";
import { parseFlags } from "../src/cli/common.ts";

const USAGE = "usage: deno run --allow-read --allow-run [--allow-write] " +
  `scripts/compile-size.ts [--json] [--verify] [--command "deno compile ..."]`;
const { values } = parseFlags({
  args: Deno.args,
  options: {
    json: { type: "boolean" },
    verify: { type: "boolean" },
    command: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}

const ROOT = resolve(new URL("../", import.meta.url).pathname);

/** The compile task's flags: what it includes and excludes, and its entry point. */
function compileFlags(command: string): {
  include: string[];
  exclude: string[];
  entry: string;
  args: string[];
} {
  const words = command.trim().split(/\s+/);
  const at = words.indexOf("compile");
  if (at < 0) throw new Error(`deno.json's compile task runs no "deno compile": ${command}`);
  const args = words.slice(at + 1);
  const include: string[] = [], exclude: string[] = [];
  const valued = new Set([
    "--include",
    "--exclude",
    "--output",
    "-o",
    "--target",
    "--icon",
    "--ext",
    "--app-name",
    "--config",
    "-c",
  ]);
  let entry = "";
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf("=");
    const [flag, value] = a.startsWith("-") && eq > 0
      ? [a.slice(0, eq), a.slice(eq + 1)]
      : valued.has(a)
      ? [a, args[++i]]
      : [a, undefined];
    if (flag === "--include") include.push(value!);
    else if (flag === "--exclude") exclude.push(value!);
    else if (!flag.startsWith("-") && entry === "") entry = flag;
  }
  if (!entry) throw new Error(`deno.json's compile task names no entry point: ${command}`);
  return { include, exclude, entry, args };
}

function compileTask(): string {
  const config = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
  const t = config.tasks?.compile;
  const command = typeof t === "string" ? t : t?.command;
  if (typeof command !== "string") throw new Error("deno.json has no compile task");
  return command;
}

/** Every regular file under `path` (the file itself if it is one), less the excluded paths. */
function* filesUnder(path: string, excluded: (p: string) => boolean): Generator<string> {
  if (excluded(path)) return;
  const st = Deno.lstatSync(path);
  if (st.isFile) yield path;
  else if (st.isDirectory) {
    for (const e of Deno.readDirSync(path)) yield* filesUnder(join(path, e.name), excluded);
  }
  // Symbolic links are not followed (the task excludes node_modules/.bin, the only ones).
}

async function moduleGraph(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`deno info ${entry} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  return (info.modules as { local?: string }[])
    .map((m) => m.local)
    .filter((p): p is string => typeof p === "string");
}

/** Bytes as "12.3 MB" (decimal) and "11.7 MiB" (what `deno compile` prints as "MB"). */
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB (${(n / 2 ** 20).toFixed(2)} MiB)`;

const command = values.command ?? compileTask();
const flags = compileFlags(command);
const abs = (p: string) => resolve(ROOT, p);
const excludes = flags.exclude.map(abs);
const excluded = (p: string) => excludes.some((x) => p === x || p.startsWith(x + "/"));
const nodeModules = join(ROOT, "node_modules");

// Each file once, in the group it is reported under.
const groups = new Map<string, Set<string>>();
const seen = new Set<string>();
const add = (group: string, file: string) => {
  if (seen.has(file) || excluded(file)) return;
  seen.add(file);
  if (!groups.has(group)) groups.set(group, new Set());
  groups.get(group)!.add(file);
};
for (const inc of flags.include) {
  for (const f of filesUnder(abs(inc), excluded)) add(inc, f);
}
for (const f of await moduleGraph(flags.entry)) {
  if (!f.startsWith(nodeModules + "/")) add("module graph", f);
}
try {
  for (const f of filesUnder(nodeModules, excluded)) {
    const rel = relative(nodeModules, f).split("/");
    add(`node_modules/${rel[0].startsWith("@") ? rel.slice(0, 2).join("/") : rel[0]}`, f);
  }
} catch (e) {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
}
// package.json rides along (it says how node_modules resolves).
const pkg = join(ROOT, "package.json");
if (await Deno.stat(pkg).then((s) => s.isFile, () => false)) add("package.json", pkg);

// Sizes, and the unique total (identical contents stored once).
const hashes = new Set<string>();
let total = 0, unique = 0;
const rows: { group: string; files: number; bytes: number }[] = [];
for (const [group, files] of groups) {
  let bytes = 0;
  for (const f of files) {
    const size = Deno.statSync(f).size;
    bytes += size;
    const h = createHash("sha256").update(Deno.readFileSync(f)).digest("hex");
    if (!hashes.has(h)) {
      hashes.add(h);
      unique += size;
    }
  }
  total += bytes;
  rows.push({ group, files: files.size, bytes });
}
rows.sort((a, b) => b.bytes - a.bytes);

let verified: { files: string; appended: number } | undefined;
if (values.verify) {
  const standIn = "/bin/true";
  if (!await Deno.stat(standIn).then((s) => s.isFile, () => false)) {
    console.error(`error: --verify needs ${standIn} (any small executable) as a stand-in runtime`);
    Deno.exit(1);
  }
  const dir = await Deno.makeTempDir({ prefix: "antidote-compile-" });
  try {
    const args = [...flags.args];
    const o = args.findIndex((a) => a === "--output" || a === "-o");
    if (o >= 0) args.splice(o, 2);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["compile", "--no-check", "--output", join(dir, "antidote"), ...args],
      cwd: ROOT,
      env: { DENORT_BIN: standIn, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    if (!out.success) throw new Error(`deno compile (DENORT_BIN=${standIn}) failed:\n${log}`);
    const files = /^Files: (.+)$/m.exec(log)?.[1] ?? "(not reported)";
    const appended = Deno.statSync(join(dir, "antidote")).size - Deno.statSync(standIn).size;
    verified = { files, appended };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (values.json) {
  console.log(JSON.stringify({ command, total, unique, groups: rows, verified }));
} else {
  console.log(`deno task compile: ${command}`);
  for (const r of rows) {
    console.log(`  ${r.group.padEnd(52)} ${String(r.files).padStart(5)} files  ${mb(r.bytes)}`);
  }
  console.log(`embedded: ${mb(total)}; identical files once: ${mb(unique)}`);
  if (!verified) console.log("(and the modules transpiled to JavaScript, which --verify counts)");
  if (verified) {
    console.log(
      `deno compile (stand-in runtime) reports Files: ${verified.files}; it appended ` +
        `${mb(verified.appended)} to the runtime (files, module metadata and index)`,
    );
  }
}
