// A purification run's files, written from runCbpt's result: prompts.safetensors (the purified
// prompts with the run's settings), trigger.png (stage 1's trigger), report.json (with the
// pixels' mean/std and where they came from, as `preprocessing`), and the loss
// curves (losses.svg, losses.png), written as one set. The run's resume state
// (stage1.safetensors, checkpoint.safetensors) is runCbpt's own, beside them.

import { join } from "node:path";
import type { CbptResult } from "../cbpt/run.ts";
import { lossPlotSvg } from "../cbpt/plot.ts";
import { writeAtomic } from "../io/files.ts";
import { svgToPng, triggerFigureSvg } from "./figure.ts";

/** The files writeCbptOutputs writes, in order. */
export const CBPT_FILES = [
  "prompts.safetensors",
  "trigger.png",
  "report.json",
  "losses.svg",
  "losses.png",
] as const;

/**
 * Creates `outDir` and proves it takes files (a probe written and removed), so that a run that
 * could not save its results fails before its expensive work, naming the folder.
 */
export async function prepareOutDir(outDir: string): Promise<void> {
  const probe = join(outDir, `.antidote-probe-${crypto.randomUUID().slice(0, 8)}`);
  try {
    await Deno.mkdir(outDir, { recursive: true });
    await Deno.writeTextFile(probe, "");
    await Deno.remove(probe);
  } catch (e) {
    throw new Error(
      `--out ${outDir}: cannot write there (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

/**
 * Writes a run's files into `outDir` (created if needed) as one set: all into a temp folder
 * first, then moved into place, so a run that fails leaves the previous run's set whole.
 * Returns their paths.
 */
export async function writeCbptOutputs(outDir: string, r: CbptResult): Promise<string[]> {
  await Deno.mkdir(outDir, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: outDir, prefix: ".run-" });
  try {
    const [prompts, trigger, report, svgPath, pngPath] = CBPT_FILES.map((f) => join(tmp, f));
    await r.classifier.save(prompts, r.report.settings);
    const figure = await triggerFigureSvg(
      r.trigger,
      r.examples,
      r.report.classes,
      r.report.suspected_target.name,
    );
    await writeAtomic(trigger, await svgToPng(figure));
    // Which mean/std the model's pixels were normalised with (its checkpoint's, or CLIP's).
    const { source, mean, std } = r.classifier.clip.pixelStats;
    const preprocessing = { source, mean: [...mean], std: [...std] };
    await writeAtomic(report, JSON.stringify({ ...r.report, preprocessing }, null, 2) + "\n");
    const svg = lossPlotSvg(r.report.trigger.losses, r.report.prompts.epochs);
    await writeAtomic(svgPath, svg);
    await writeAtomic(pngPath, await svgToPng(svg));
    for (const f of CBPT_FILES) await Deno.rename(join(tmp, f), join(outDir, f));
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return CBPT_FILES.map((f) => join(outDir, f));
}
