// Progress lines for long work (stage, step, loss, ETA); the caller decides where they go
// (src/cli/common.ts's stderrProgress prints them).

/**
 * Receives progress lines of long work ("stage 1 (trigger)  step 40/500  loss 1.2345 ..."):
 * `done` is false while a stage runs (a line that the next one may replace) and true for its last.
 */
export type Progress = (line: string, done: boolean) => void;

/** When each running stage (keyed by its start time) finished its first step. */
const firstStepAt = new Map<number, number>();

/**
 * "stage 1 (trigger)  step 40/500  loss 1.2345  12.3 s  ETA 141 s". The ETA leaves the first
 * step out (it compiles the stage's kernels and took 10–30× a later one: a first estimate of
 * 261 s for a 14 s stage): "ETA estimating" until a second step is done.
 */
export function progressLine(
  stage: string,
  step: number,
  total: number,
  loss: number | null,
  t0: number,
  extra = "",
): [string, boolean] {
  const now = performance.now(), el = (now - t0) / 1000;
  if (step <= 1 || !firstStepAt.has(t0)) firstStepAt.set(t0, now);
  const since = firstStepAt.get(t0)!, later = step - 1;
  const eta = step >= total
    ? "ETA 0 s"
    : step >= 2 && later > 0 && now > since
    ? `ETA ${(((now - since) / 1000 / later) * (total - step)).toFixed(0)} s`
    : "ETA estimating";
  if (step >= total) firstStepAt.delete(t0);
  return [
    `${stage}  step ${step}/${total}${loss === null ? "" : `  loss ${loss.toFixed(4)}`}${extra}  ` +
    `${el.toFixed(1)} s  ${eta}`,
    step === total,
  ];
}
