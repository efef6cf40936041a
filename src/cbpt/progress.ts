// Progress lines for long work (stage, step, loss, ETA); the caller decides where they go
// (src/cli/common.ts's stderrProgress prints them).

/**
 * Receives progress lines of long work ("stage 1 (trigger)  step 40/500  loss 1.2345 ..."):
 * `done` is false while a stage runs (a line that the next one may replace) and true for its last.
 */
export type Progress = (line: string, done: boolean) => void;

/**
 * Where each running stage's ETA measures from (keyed by its start time): the time and step of
 * its first line. Steps whose losses come back together (BatchedScalars) report one line per
 * read-back, its last step: lines that arrive together carry no timing between them.
 */
const anchors = new Map<number, { at: number; step: number }>();

/**
 * "stage 1 (trigger)  step 40/500  loss 1.2345  12.3 s  ETA 141 s". The ETA is the pace since
 * the stage's first line: that leaves out the first step (it compiles the stage's kernels and
 * took 10–30× a later one: a first estimate of 261 s for a 14 s stage), so a first line at
 * step 1 says "ETA estimating"; a first line further on (a read-back of several steps) has only
 * the stage's whole pace, compilation included. `now` is for tests.
 */
export function progressLine(
  stage: string,
  step: number,
  total: number,
  loss: number | null,
  t0: number,
  extra = "",
  now = performance.now(),
): [string, boolean] {
  const el = (now - t0) / 1000;
  let anchor = anchors.get(t0);
  const first = step <= 1 || !anchor || step <= anchor.step;
  if (first) anchors.set(t0, anchor = { at: now, step });
  const rate = !first && now > anchor!.at
    ? (now - anchor!.at) / 1000 / (step - anchor!.step)
    : first && step > 1
    ? el / step
    : null;
  const eta = step >= total
    ? "ETA 0 s"
    : rate === null
    ? "ETA estimating"
    : `ETA ${(rate * (total - step)).toFixed(0)} s`;
  if (step >= total) anchors.delete(t0);
  return [
    `${stage}  step ${step}/${total}${loss === null ? "" : `  loss ${loss.toFixed(4)}`}${extra}  ` +
    `${el.toFixed(1)} s  ${eta}`,
    step === total,
  ];
}
