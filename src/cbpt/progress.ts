// Progress lines for long work (stage, step, loss, ETA); the caller decides where they go
// (src/cli/common.ts's stderrProgress prints them).

/**
 * Receives progress lines of long work ("stage 1 (trigger)  step 40/500  loss 1.2345 ..."):
 * `done` is false while a stage runs (a line that the next one may replace) and true for its last.
 */
export type Progress = (line: string, done: boolean) => void;

/** "stage 1 (trigger)  step 40/500  loss 1.2345  12.3 s  ETA 141 s" */
export function progressLine(
  stage: string,
  step: number,
  total: number,
  loss: number | null,
  t0: number,
  extra = "",
): [string, boolean] {
  const el = (performance.now() - t0) / 1000;
  const eta = (el / step) * (total - step);
  return [
    `${stage}  step ${step}/${total}${loss === null ? "" : `  loss ${loss.toFixed(4)}`}${extra}  ` +
    `${el.toFixed(1)} s  ` +
    `ETA ${eta.toFixed(0)} s`,
    step === total,
  ];
}
