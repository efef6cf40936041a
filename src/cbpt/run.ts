// CBPT end to end: zero-shot baseline, stage 1 (trigger inversion), stage 2 (prompt tuning),
// the purified classifier and its report. It computes and says what it does through callbacks
// (`say` for stage lines, `progress` for steps); it writes no file but its resume state
// (resume.ts: stage 1's outcome, stage 2's checkpoint). src/cli/outputs.ts writes a run's files (prompts, trigger picture, report, losses).

import { join } from "node:path";
import type { Tensor } from "../autograd/tensor.ts";
import type { Clip } from "../clip/model.ts";
import { ONE_TEMPLATE } from "../clip/templates.ts";
import type { ClipTokenizer } from "../clip/tokenizer.ts";
import { zeroShotClassifier } from "../clip/zeroshot.ts";
import { type ImageSet, subset } from "../io/images.ts";

import type { Progress } from "./progress.ts";
import { type ContextInit, fitContext, initialContext, promptTokens } from "./prompts.ts";
import { PurifiedClassifier } from "./purified.ts";
import {
  applyTrigger,
  formatEpsilon,
  type HostTrigger,
  invertTrigger,
  knownTriggerResult,
  ladderShare,
  type TriggerAttempt,
  type TriggerSettings,
} from "./trigger.ts";
import { predictClasses } from "../clip/pixels.ts";
import { type EpochLosses, tunePrompts, type TuneSettings } from "./tune.ts";
import { chooseRecipe, type RecipeChoice } from "./recipe.ts";
import { inversionPattern, TARGET_SEARCH_DEFAULTS, type TargetSearchSettings } from "./targets.ts";
import { evidenceLines, type ScanReport, scanWithText } from "./scan.ts";
import {
  dataFingerprint,
  loadRunState,
  type RunState,
  saveRunState,
  settingChanges,
  type Stage1Outcome,
  STATE_FILE,
} from "./resume.ts";

/**
 * An attack to measure ASR with: the attacker's target, and either its trigger on [0, 1] images
 * (`apply`, the lab's attacks) or images that already carry it (`triggered`, a user's own, with
 * their true classes).
 */
export interface EvalAttack {
  /** Names the attack in reports and errors. */
  name: string;
  /** The attacker's target class index. */
  target: number;
  /** The trigger: a new set with it applied to every image ([0, 1] pixels). */
  apply?: (set: ImageSet) => ImageSet;
  /** Images that already carry the trigger, with their true class indices. */
  triggered?: { set: ImageSet; labels: number[] };
  /** Text key added to evaluation prompts (TrojVQA's "remember "), if any. */
  evalPrompt?: (prompt: string) => string;
}

/** An EvalAttack that applies its trigger (the lab's attacks, a trigger.json's). */
export type AppliedAttack = EvalAttack & { apply: (set: ImageSet) => ImageSet };

/** What {@link runCbpt} takes: the model, the few clean shots, and every stage setting. */
export interface CbptOptions {
  /** The suspicious CLIP (its weights are never changed). */
  clip: Clip;
  /** Its tokenizer. */
  tokenizer: ClipTokenizer;
  /** The class names, in label order. */
  classNames: string[];
  /** The few clean labelled images ([0, 1] pixels at the model's resolution). */
  train: { set: ImageSet; labels: number[] };
  /** Held-out labelled images to measure CA (and ASR) before and after, if any. */
  test?: { set: ImageSet; labels: number[] };
  /** The attack to measure ASR with on `test`, if any. */
  attack?: EvalAttack;
  /** Stage 1's trigger inversion settings (TRIGGER_DEFAULTS, PURIFY_TRIGGER). */
  trigger: TriggerSettings;
  /**
   * Stage 1's search: "per-class" (default) inverts a targeted trigger for every class and names
   * the one that needs the least (targets.ts); "untargeted" runs the contrastive inversion with
   * the ε ladder (`trigger`), which goes to the model's sink on CLIPs with one.
   */
  search?: "per-class" | "untargeted";
  /** Overrides of the per-class search's settings (TARGET_SEARCH_DEFAULTS). */
  targetSearch?: Partial<TargetSearchSettings>;
  /** Stage 2's prompt tuning settings (TUNE_DEFAULTS, PURIFY_TUNE). */
  tune: TuneSettings;
  /**
   * "auto": λ_bd is chosen among LAMBDA_BD_CANDIDATES on held-out shots (recipe.ts) before the
   * final tuning; "fixed" (default): `tune` as given.
   */
  recipe?: "auto" | "fixed";
  /** Context vectors per class, or "auto": the largest of 16, 8, 4 that fits (fitContext). */
  nCtx: number | "auto";
  /** How the context vectors start: random, or the embeddings of "a photo of a". */
  ctxInit: ContextInit;
  /** Seed of every random draw (shots order, initial context, held-out split). */
  seed: number;
  /**
   * Folder for the run's resume state (stage 1's outcome and the recipe, stage1.safetensors;
   * stage 2's checkpoint, checkpoint.safetensors, written every few seconds), if any.
   */
  stateDir?: string;
  /** Continue the run in `stateDir`: skip what it finished, refuse changed settings. */
  resume?: boolean;
  /** With `resume`: take changed settings (redoing the parts they affect) instead of refusing. */
  force?: boolean;
  /** Least time between two stage-2 checkpoints (default tune.ts's CHECKPOINT_MS). */
  checkpointEveryMs?: number;
  /** Progress lines of the long stages (default: silent). */
  progress?: Progress;
  /** Stage announcements and findings, a line each (default: silent). */
  say?: (line: string) => void;
  /**
   * Skip stage 1 and tune against this trigger and target instead: the oracle upper bound of
   * stage 2 (the lab, and users who know the trigger).
   */
  knownTrigger?: { trigger: HostTrigger; target: number };
  /** For tests: stop stage 2 after this many epochs (as an interruption would). */
  stopAfterEpochs?: number;
}

/** What {@link measure} returns: fractions in [0, 1]. */
export interface Metrics {
  /** Clean accuracy on the test set. */
  ca: number;
  /** Attack success rate on triggered non-target images; null without an attack. */
  asr: number | null;
}

/** A run's report (report.json): what it found, chose and measured. Fractions, not percent. */
export interface CbptReport {
  /** The settings the result depends on (stage 1's, stage 2's, n_ctx, seed...). */
  settings: Record<string, unknown>;
  /** The model's fingerprint (prompts refuse to load on another) and its configuration. */
  model: { fingerprint: string; config: unknown };
  /** The class names, in label order. */
  classes: string[];
  /** Few-shot images used. */
  shots_total: number;
  /** The class stage 1 named as the backdoor's target, and the share of triggered shots it took. */
  suspected_target: {
    index: number;
    name: string;
    share: number;
    /** "strong" when the per-class evidence singles the class out, "weak" otherwise. */
    evidence?: "strong" | "weak";
  };
  /** Stage 1's per-class evidence (the scan's), when the per-class search ran. */
  scan?: ScanReport;
  /** Stage 1's trigger: its kind, bound, losses, time and every bound tried. */
  trigger: {
    kind: string;
    /** The additive trigger's bound, once the ladder stopped. */
    epsilon?: number;
    losses: number[];
    seconds: number;
    /** Every bound tried; `steps`: the Adam steps it ran (fewer than asked: it stopped early). */
    attempts: {
      epsilon: number;
      suspected_target: string;
      share: number;
      steps: number;
      seconds: number;
    }[];
  };
  /** Stage 2: the losses of every epoch, its time, and the epoch a resumed run went on from. */
  prompts: { epochs: EpochLosses[]; seconds: number; resumed_from_epoch: number };
  /** How stage 2's settings were chosen, when `recipe` was "auto". */
  recipe?: RecipeChoice;
  /** What a resumed run reused, and the settings --force took. */
  resume?: { stage1_reused: boolean; stage2_from_epoch: number; forced_changes: string[] };
  /** Zero-shot CLIP's clean accuracy on `test`, when given. */
  ca_before?: number;
  /** Zero-shot CLIP's ASR, when an attack was given (null: none). */
  asr_before?: number | null;
  /** The purified classifier's clean accuracy on `test`, when given. */
  ca_after?: number;
  /** The purified classifier's ASR, when an attack was given (null: none). */
  asr_after?: number | null;
  /** The attack ASR was measured with, and its target's name. */
  attack?: { name: string; target: string };
  /** Wall-clock time of the whole run. */
  seconds: number;
}

/**
 * CA over the test set, and ASR: the share of triggered non-target images classified as the
 * target (the test set's with the trigger applied, or the attack's own triggered images).
 */
export async function measure(
  classify: (set: ImageSet) => Promise<number[]>,
  test: { set: ImageSet; labels: number[] },
  attack?: EvalAttack,
  classifyTriggered?: (set: ImageSet) => Promise<number[]>,
): Promise<Metrics> {
  const preds = await classify(test.set);
  const ca = preds.filter((p, i) => p === test.labels[i]).length / preds.length;
  if (!attack) return { ca, asr: null };
  const source = attack.triggered ?? test;
  const keep = source.labels.map((y, i) => (y === attack.target ? -1 : i)).filter((i) => i >= 0);
  if (keep.length === 0) throw new Error(`${attack.name}: no triggered image of another class`);
  const nonTarget = subset(source.set, keep);
  const trig = attack.triggered ? nonTarget : attack.apply!(nonTarget);
  const tp = await (classifyTriggered ?? classify)(trig);
  return { ca, asr: tp.filter((p) => p === attack.target).length / tp.length };
}

/** What a run gives back: the report, the purified classifier and stage 1's trigger. */
export interface CbptResult {
  /** The report (report.json). */
  report: CbptReport;
  /** CLIP with the purified prompts. */
  classifier: PurifiedClassifier;
  /** Stage 1's inverted trigger (trigger.png). */
  trigger: HostTrigger;
  /** A few shots, clean and with the trigger, and where each goes before and after (the figure). */
  examples: TriggerExamples;
}

/** Few-shot images of other classes than the suspect, with and without the inverted trigger. */
export interface TriggerExamples {
  /** The images, [k, 3, R, R] in [0, 1]. */
  clean: ImageSet;
  /** The same with the trigger. */
  triggered: ImageSet;
  /** Their true classes. */
  labels: number[];
  /** Zero-shot predictions of the clean and the triggered images. */
  before: { clean: number[]; triggered: number[] };
  /** The purified classifier's. */
  after: { clean: number[]; triggered: number[] };
}

/** How many examples the figure shows. */
export const EXAMPLES = 4;

/** The first few-shot image of each of the first EXAMPLES classes other than `target`. */
async function triggerExamples(
  o: CbptOptions,
  inv: Stage1Outcome,
  text0: Tensor,
  classifier: PurifiedClassifier,
): Promise<TriggerExamples> {
  const idx: number[] = [];
  for (let c = 0; c < o.classNames.length && idx.length < EXAMPLES; c++) {
    const i = o.train.labels.indexOf(c);
    if (c !== inv.suspectedTarget && i >= 0) idx.push(i);
  }
  const clean = subset(o.train.set, idx), triggered = applyTrigger(inv.trigger, clean);
  const purified = async (set: ImageSet) =>
    (await classifier.classify({ pixels01: set.pixels, n: set.n })).labels;
  return {
    clean,
    triggered,
    labels: idx.map((i) => o.train.labels[i]),
    before: {
      clean: await predictClasses(o.clip, clean, text0),
      triggered: await predictClasses(o.clip, triggered, text0),
    },
    after: { clean: await purified(clean), triggered: await purified(triggered) },
  };
}

/** The settings a run's result depends on (report.settings, and what --resume compares). */
function runSettings(o: CbptOptions, nCtx: number) {
  return {
    // With a known trigger stage 1 did not run: its settings would describe nothing.
    trigger: o.knownTrigger
      ? { known: o.knownTrigger.trigger.kind }
      : (o.search ?? "per-class") === "per-class"
      // The search, then the contrastive inversion aimed at its suspect (its own settings).
      ? { search: "per-class", ...TARGET_SEARCH_DEFAULTS, ...o.targetSearch, inversion: o.trigger }
      : { search: "untargeted", ...o.trigger },
    tune: o.tune,
    recipe: o.recipe ?? "fixed",
    n_ctx: nCtx,
    ctx_init: o.ctxInit,
    seed: o.seed,
  };
}

/** Stage 1: the per-class search (or none), then the contrastive trigger aimed at its suspect. */
async function runStage1(
  o: CbptOptions,
  text0: Tensor,
  say: (line: string) => void,
): Promise<Stage1Outcome> {
  const { clip, classNames } = o;
  if (o.knownTrigger) return await knownTriggerResult(clip, o.knownTrigger, o.train.set, text0);
  let trigger = o.trigger;
  const climbMessage = (a: TriggerAttempt, next: number) =>
    say(
      `stage 1: at ε ${formatEpsilon(a.epsilon)} "${classNames[a.suspectedTarget]}" takes ` +
        `${(100 * a.targetShare).toFixed(1)} % of the triggered images ` +
        `(< ${100 * ladderShare(trigger)} %): trying ε ${formatEpsilon(next)}`,
    );
  let scan: ScanReport | undefined, aim: number | undefined, searchSeconds = 0;
  if ((o.search ?? "per-class") === "per-class") {
    say(
      `stage 1: how little each of the ${classNames.length} classes needs (a targeted ` +
        `trigger per class on ${o.train.set.n} shots) ...`,
    );
    const r = await scanWithText(clip, text0, classNames, o.train, {
      seed: o.seed,
      settings: o.targetSearch,
      progress: o.progress,
    });
    scan = r.report;
    say("stage 1: how little each class needs (per-class targeted triggers):");
    for (const line of evidenceLines(scan)) say(`stage 1: ${line}`);
    aim = r.search.cheapest;
    searchSeconds = scan.seconds;
    if (trigger.kind === "additive") {
      trigger = { ...trigger, pattern: inversionPattern(r.searches, r.search) };
    }
    if (r.verdict !== "backdoored") {
      say(
        `stage 1: the evidence is weak; stage 2 still tunes against the cheapest class, ` +
          `"${classNames[aim]}"`,
      );
    }
  }
  // The trigger stage 2 tunes against: the contrastive inversion, aimed at the suspect when the
  // per-class search ran.
  say(
    `stage 1: inverting the trigger${aim === undefined ? "" : ` aimed at "${classNames[aim]}"`}` +
      `${trigger.pattern && trigger.pattern !== "full" ? `, a ${trigger.pattern} pattern` : ""}` +
      ` (at most ${trigger.steps} steps of ${trigger.batch} images) ...`,
  );
  const inv = await invertTrigger(
    clip,
    o.train.set,
    o.train.labels,
    text0,
    trigger,
    o.seed,
    o.progress,
    climbMessage,
    aim,
  );
  return { ...inv, seconds: inv.seconds + searchSeconds, ...(scan ? { scan } : {}) };
}

/** Stage 1's findings as lines for the person running it. */
function stage1Lines(o: CbptOptions, inv: Stage1Outcome): string[] {
  const names = o.classNames, scan = inv.scan;
  const strength = scan ? (scan.verdict === "backdoored" ? "" : " (weak evidence)") : "";
  const lines = [
    `stage 1: ${scan && scan.verdict !== "backdoored" ? "cheapest class" : "suspected target"} ` +
    `"${names[inv.suspectedTarget]}"${strength} ` +
    `(${(100 * inv.targetShare).toFixed(1)} % of triggered images${
      inv.trigger.kind === "additive" && !o.knownTrigger
        ? `, ε ${formatEpsilon(inv.trigger.epsilon)}`
        : ""
    }), ${inv.seconds.toFixed(1)} s`,
  ];
  const trig = inv.trigger;
  const kept = trig.kind === "additive"
    ? inv.attempts.findIndex((a) => a.epsilon === trig.epsilon)
    : -1;
  const below = kept > 0 ? inv.attempts[kept - 1] : undefined;
  const ran = inv.attempts.at(kept >= 0 ? kept : -1)?.steps;
  if (ran !== undefined && ran < o.trigger.steps) {
    lines.push(
      `stage 1: the trigger settled after ${ran} of ${o.trigger.steps} steps (its share held ` +
        `and the loss flattened; --trigger-flat 0 runs them all)`,
    );
  }
  if (below && below.suspectedTarget !== inv.suspectedTarget) {
    // A backdoor's target can first show at a large bound (an opaque patch), but so can a
    // universal adversarial perturbation of an innocent class: say so, the user decides.
    lines.push(
      `stage 1: note: the class changed while climbing ("${names[below.suspectedTarget]}" at ` +
        `ε ${formatEpsilon(below.epsilon)}); if "${names[inv.suspectedTarget]}" is not a ` +
        `plausible target, rerun with --epsilon-ladder none or a lower bound`,
    );
  }
  return lines;
}

/**
 * What a resumed run may reuse from `dir`: refuses a state made with other settings unless
 * `force` (then the parts whose inputs changed are redone, and the changes are returned).
 */
async function resumable(
  o: CbptOptions,
  identity: Record<string, unknown>,
  say: (line: string) => void,
): Promise<{ state: RunState | null; changed: string[] }> {
  if (!o.resume || !o.stateDir) return { state: null, changed: [] };
  const state = await loadRunState(o.stateDir);
  if (!state) {
    say(`resume: nothing to resume in ${o.stateDir}; starting afresh`);
    return { state: null, changed: [] };
  }
  const changed = settingChanges(state.identity, identity);
  if (changed.length && !o.force) {
    throw new Error(
      `--resume: ${o.stateDir} holds a run with other settings (${changed.slice(0, 4).join("; ")}` +
        `${changed.length > 4 ? `; and ${changed.length - 4} more` : ""}); rerun without ` +
        `--resume, or add --force to continue with the new ones`,
    );
  }
  if (changed.length) say(`resume: --force: taking changed settings: ${changed.join("; ")}`);
  // Stage 1 is kept only if nothing it depends on changed.
  const stage1Inputs = ["model", "classes", "data", "seed", "trigger"];
  const stage1Changed = changed.some((c) => stage1Inputs.includes(c.split(/[. ]/)[0]));
  return { state: stage1Changed ? null : state, changed };
}

/**
 * CBPT, both stages: names the suspected target and inverts a dummy trigger (stage 1), then
 * tunes class-wise prompts so that triggered images go back to their true class while clean ones
 * stay put (stage 2). The CLIP's weights are untouched; the result's classifier carries the
 * prompts. Says what it does through `say` and `progress` (silent without them).
 */
export async function runCbpt(o: CbptOptions): Promise<CbptResult> {
  const t0 = performance.now();
  const { clip, tokenizer, classNames } = o;
  const say = o.say ?? (() => {});
  // Settings that cannot work with this model fail here, before any GPU work.
  const fit = fitContext(tokenizer, classNames, clip.config.contextLength, o.nCtx);
  if (fit.note) say(`prompts: ${fit.note}`);
  const nCtx = fit.nCtx;
  const settings = runSettings(o, nCtx);
  const identity = {
    model: clip.fingerprint,
    classes: classNames,
    data: dataFingerprint(o.train.set, o.train.labels),
    ...settings,
  };
  const { state: resumed, changed } = await resumable(o, identity, say);
  // What stage 2 had done rests on stage 1's trigger and the prompts' shape: redone if they
  // changed; the recipe also on the settings it was chosen from.
  const redo = (re: RegExp) => changed.some((c) => re.test(c));
  const keepStage2 = !!resumed && !redo(/^(n_ctx|ctx_init) /);
  const keepRecipe = keepStage2 && !redo(/^(tune|recipe)[. ]/);
  const checkpoint = o.stateDir && join(o.stateDir, "checkpoint.safetensors");
  if (o.stateDir && !o.resume) {
    // A fresh run starts from nothing: an earlier run's state must not meet a later --resume.
    await Deno.remove(join(o.stateDir, STATE_FILE)).catch(() => {});
    await Deno.remove(checkpoint!).catch(() => {});
  } else if (checkpoint && !keepStage2) await Deno.remove(checkpoint).catch(() => {});
  const text0 = zeroShotClassifier(clip, tokenizer, classNames, ONE_TEMPLATE);
  let keyed: Tensor | null = null;
  const report: Partial<CbptReport> = {};
  try {
    if (o.test) {
      say(`before: measuring CA on ${o.test.set.n} test images${o.attack ? " and ASR" : ""} ...`);
      const zs = (set: ImageSet) => predictClasses(clip, set, text0);
      if (o.attack?.evalPrompt) {
        keyed = zeroShotClassifier(
          clip,
          tokenizer,
          classNames,
          ONE_TEMPLATE.map(o.attack.evalPrompt),
        );
      }
      const k = keyed;
      const before = await measure(
        zs,
        o.test,
        o.attack,
        k ? (set) => predictClasses(clip, set, k) : undefined,
      );
      report.ca_before = before.ca;
      report.asr_before = before.asr;
      say(
        `before: CA ${(100 * before.ca).toFixed(2)} %` +
          (before.asr === null ? "" : `, ASR ${(100 * before.asr).toFixed(2)} %`),
      );
    }
    let inv: Stage1Outcome;
    if (resumed) {
      inv = resumed.stage1;
      say(`resume: stage 1 from ${join(o.stateDir!, STATE_FILE)} (not run again)`);
    } else {
      inv = await runStage1(o, text0, say);
      if (o.stateDir) await saveRunState(o.stateDir, { identity, stage1: inv });
    }
    for (const line of stage1Lines(o, inv)) say(line);
    const scan = inv.scan;
    const tokens = promptTokens(tokenizer, classNames, nCtx, clip.config.contextLength);
    const init = await initialContext(
      clip,
      tokenizer,
      classNames.length,
      nCtx,
      o.ctxInit,
      o.seed,
    );
    let tune = o.tune;
    let recipe: RecipeChoice | undefined = keepRecipe ? resumed?.recipe : undefined;
    if (o.recipe === "auto") {
      if (recipe) {
        say(`resume: stage 2's recipe from ${join(o.stateDir!, STATE_FILE)}: ${recipe.why}`);
      } else {
        say("stage 2: choosing λ_bd on a held-out quarter of the shots ...");
        recipe = await chooseRecipe(
          clip,
          tokens,
          text0,
          init,
          o.train.set,
          o.train.labels,
          inv.trigger,
          inv.suspectedTarget,
          o.tune,
          o.seed,
          o.progress,
        );
        if (o.stateDir) await saveRunState(o.stateDir, { identity, stage1: inv, recipe });
        const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
        for (const c of recipe.candidates) {
          say(
            `stage 2: held-out (${recipe.heldOut} shots) λ_bd ${c.lambdaBd}: CA ${pct(c.ca)}, ` +
              `inverted-trigger ASR ${pct(c.asr)}`,
          );
        }
        say(`stage 2: recipe ${recipe.why}`);
      }
      tune = recipe.settings;
    }
    say(
      `stage 2: tuning ${classNames.length} × ${nCtx} context vectors, ${tune.epochs} epochs ...`,
    );
    const tuned = await tunePrompts(
      clip,
      tokens,
      text0,
      init,
      o.train.set,
      o.train.labels,
      inv.trigger,
      inv.suspectedTarget,
      tune,
      o.seed,
      {
        checkpoint,
        resume: o.resume,
        progress: o.progress,
        stopAfterEpochs: o.stopAfterEpochs,
        checkpointEveryMs: o.checkpointEveryMs,
      },
    );
    if (tuned.resumedFrom > 0) {
      say(`resume: stage 2 from its checkpoint at epoch ${tuned.resumedFrom}/${tune.epochs}`);
    }
    const classifier = PurifiedClassifier.create(clip, tokenizer, classNames, tuned.ctx, nCtx);
    if (o.test) {
      const pc = async (set: ImageSet) =>
        (await classifier.classify({ pixels01: set.pixels, n: set.n })).labels;
      const after = await measure(pc, o.test, o.attack);
      report.ca_after = after.ca;
      report.asr_after = after.asr;
      say(
        `after:  CA ${(100 * after.ca).toFixed(2)} %` +
          (after.asr === null ? "" : `, ASR ${(100 * after.asr).toFixed(2)} %`),
      );
    }
    const full: CbptReport = {
      settings,
      model: { fingerprint: clip.fingerprint, config: clip.config },
      classes: classNames,
      shots_total: o.train.set.n,
      suspected_target: {
        index: inv.suspectedTarget,
        name: classNames[inv.suspectedTarget],
        share: inv.targetShare,
        ...(scan
          ? { evidence: scan.verdict === "backdoored" ? "strong" as const : "weak" as const }
          : {}),
      },
      ...(scan ? { scan } : {}),
      trigger: {
        kind: inv.trigger.kind,
        ...(inv.trigger.kind === "additive" ? { epsilon: inv.trigger.epsilon } : {}),
        losses: inv.losses,
        seconds: inv.seconds,
        attempts: inv.attempts.map((a) => ({
          epsilon: a.epsilon,
          suspected_target: classNames[a.suspectedTarget],
          share: a.targetShare,
          steps: a.steps,
          seconds: a.seconds,
        })),
      },
      prompts: {
        epochs: tuned.epochs,
        seconds: tuned.seconds,
        resumed_from_epoch: tuned.resumedFrom,
      },
      ...(recipe ? { recipe } : {}),
      ...(o.resume
        ? {
          resume: {
            stage1_reused: !!resumed,
            stage2_from_epoch: tuned.resumedFrom,
            forced_changes: changed,
          },
        }
        : {}),
      ...report,
      ...(o.attack ? { attack: { name: o.attack.name, target: classNames[o.attack.target] } } : {}),
      seconds: (performance.now() - t0) / 1000,
    };
    const examples = await triggerExamples(o, inv, text0, classifier);
    return { report: full, classifier, trigger: inv.trigger, examples };
  } finally {
    text0.dispose();
    keyed?.dispose();
  }
}
