// Runs `deno test` on a GPU test module N times under the GL backend and counts the runs that
// did not exit cleanly (issue 14, defect 11: glibc aborting in libglvnd's exit-time destructors).
// usage: deno run -A scripts/exit-race.ts [--runs 50] [--jobs 2] [--release] [--no-guard] [FILE ...]
// Default FILE: test/exit_race_case.ts. Prints one line per bad run and "N runs, K bad".
import { parseFlags, wholeFlag } from "../src/cli/common.ts";

const USAGE = "usage: exit-race.ts [--runs 50] [--jobs 2] [--release] [--no-guard] [FILE ...]\n" +
  "  runs `deno test -A FILE...` with DENO_WEBGPU_BACKEND=gl --runs times, --jobs at once;\n" +
  "  --release sets ANTIDOTE_RACE_RELEASE=1 (test/exit_race_case.ts then widens the race);\n" +
  "  --no-guard sets ANTIDOTE_EXIT_GUARD=0 (the exit as it was before the guard in device.ts)";
const { values, positionals } = parseFlags({
  args: Deno.args,
  allowPositionals: true,
  options: {
    runs: { type: "string" },
    jobs: { type: "string" },
    release: { type: "boolean" },
    "no-guard": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const runs = wholeFlag("runs", values.runs, 50, 1, 100_000);
const jobs = wholeFlag("jobs", values.jobs, 2, 1, 64);
const files = positionals.length ? positionals : ["test/exit_race_case.ts"];

/** One child `deno test`: its exit code, and whether its summary said every test passed. */
async function raceRun(
  files: readonly string[],
  release: boolean,
): Promise<{ code: number; signal: string | null; passed: boolean; tail: string }> {
  const env: Record<string, string> = { DENO_WEBGPU_BACKEND: "gl", NO_COLOR: "1" };
  if (release) env.ANTIDOTE_RACE_RELEASE = "1";
  if (values["no-guard"]) env.ANTIDOTE_EXIT_GUARD = "0";
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", ...files],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return {
    code: out.code,
    signal: out.signal,
    passed: /^ok \| \d+ passed/m.test(text),
    tail: [
      ...text.split("\n").filter((l) => /^error|panicked/i.test(l)).slice(0, 2),
      ...text.trim().split("\n").slice(-2),
    ].join(" / ").slice(-300),
  };
}

{
  let next = 0, bad = 0;
  const worker = async () => {
    while (next < runs) {
      const i = ++next;
      const r = await raceRun(files, !!values.release);
      if (r.code !== 0 || !r.passed) {
        bad++;
        console.log(`run ${i}: exit ${r.code}${r.signal ? ` (${r.signal})` : ""}: ${r.tail}`);
      }
      if (i % 10 === 0) console.error(`${i}/${runs} runs, ${bad} bad`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, runs) }, worker));
  console.log(`${runs} runs, ${bad} bad`);
  Deno.exit(bad ? 1 : 0);
}
