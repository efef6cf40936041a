// The embedded demo: CBPT on one of the backdoor lab's fixtures (DEMO_FIXTURE: a small CLIP
// trained on Fashion-MNIST and then poisoned; see fixtures/README.md), its few-shot clean set
// and held-out test set, with shortened stage settings so that it runs in a few minutes on a
// software adapter. `deno task compile` embeds the lab's backdoored fixtures and fixtures/data.

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadClip } from "../clip/index.ts";
import { ClipTokenizer } from "../clip/tokenizer.ts";
import { loadFixtureSet } from "./fixtures.ts";
import { asEvalAttack, labAttack } from "./attack.ts";
import { specAttack } from "./spec_attack.ts";
import type { Attack } from "../attacks/types.ts";
import type { AppliedAttack } from "../cbpt/run.ts";
import type { Clip } from "../clip/model.ts";
import type { ImageSet } from "../io/images.ts";
import type { TriggerSettings } from "../cbpt/trigger.ts";
import { PURIFY_TRIGGER, PURIFY_TUNE } from "../cbpt/recipe.ts";
import type { TuneSettings } from "../cbpt/tune.ts";

/** The folder of the committed fixtures. */
export function fixturesDir(): string {
  return fileURLToPath(new URL("../../fixtures/", import.meta.url));
}

/** What scripts/backdoor.ts records beside a poisoned model (backdoor.json). */
export interface BackdoorRecord {
  attack: string;
  target: string;
  targetIndex: number;
  /** Seed of the attack's fixed patterns (the same at evaluation). */
  attackSeed: number;
  rate: number;
  /** BadCLIP's patch picture, relative to the fixture folder. */
  patch?: string;
  /** The attack's settings (BadNet's patchSize is read back from here). */
  params?: Record<string, number | string | boolean>;
  [k: string]: unknown;
}

export async function readBackdoorRecord(dir: string): Promise<BackdoorRecord> {
  const path = join(dir, "backdoor.json");
  let rec: BackdoorRecord;
  try {
    rec = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`${path}: cannot read the attack record (${(e as Error).message})`);
  }
  for (const k of ["attack", "target", "targetIndex", "attackSeed"] as const) {
    if (rec[k] === undefined) throw new Error(`${path}: missing "${k}"`);
  }
  return rec;
}

/** The demo runs purify's own defaults (src/cbpt/recipe.ts says why they are what they are). */
export const DEMO_TRIGGER: Partial<TriggerSettings> = PURIFY_TRIGGER;
export const DEMO_TUNE: Partial<TuneSettings> = PURIFY_TUNE;

export interface LoadedFixture {
  clip: Clip;
  tokenizer: ClipTokenizer;
  classNames: string[];
  train: { set: ImageSet; labels: number[] };
  test: { set: ImageSet; labels: number[] };
  attack: AppliedAttack;
  /** The same attack as the lab's pure function (for the lab's own measurements); null for a
   * model other code made (its trigger.json gives `attack`). */
  labAttack: Attack | null;
  record: BackdoorRecord;
}

/** The demo's fixture: BadNet (an 8-px noise square, redrawn per image; ASR 99 %). */
export const DEMO_FIXTURE = "badnet";

/** A lab fixture (default DEMO_FIXTURE) with its few-shot and test sets and its attack. */
/** The names --fixture takes: every folder under `dir` (one level of nesting) with a backdoor.json. */
export async function fixtureNames(dir = fixturesDir()): Promise<string[]> {
  const out: string[] = [];
  const walk = async (sub: string, depth: number) => {
    for await (const e of Deno.readDir(join(dir, sub))) {
      if (!e.isDirectory) continue;
      const name = sub ? `${sub}/${e.name}` : e.name;
      try {
        await Deno.stat(join(dir, name, "backdoor.json"));
        out.push(name);
      } catch {
        if (depth < 1) await walk(name, depth + 1);
      }
    }
  };
  await walk("", 0);
  return out.sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b));
}

export async function loadFixture(
  name = DEMO_FIXTURE,
  dir = fixturesDir(),
): Promise<LoadedFixture> {
  const modelDir = join(dir, name);
  try {
    await Deno.stat(join(modelDir, "backdoor.json"));
  } catch {
    const names = await fixtureNames(dir);
    throw new Error(
      `--fixture ${name}: no backdoored fixture at ${modelDir}; the fixtures are ` +
        `${names.join(", ")} (fixtures/README.md says how to make more)`,
    );
  }
  const record = await readBackdoorRecord(modelDir);
  const clip = await loadClip(modelDir);
  // Models made by other code with CLIP's own vocabulary ship no tokenizer: use the bundled one.
  const tokenizer = await ClipTokenizer.fromDir(modelDir).catch((e) => {
    if (clip.config.vocabSize === 49408) return ClipTokenizer.bundled();
    throw e;
  });
  const R = clip.config.imageResolution;
  const few = await loadFixtureSet(join(dir, "data", "fewshot.safetensors"), R);
  const test = await loadFixtureSet(join(dir, "data", "test.safetensors"), R);
  const asSet = (f: typeof few) => ({
    set: { pixels: f.images01, n: f.n, size: R },
    labels: f.labels,
  });
  // A model other code backdoored describes its trigger in trigger.json; the lab's own name one
  // of the seven attacks.
  const spec = await Deno.stat(join(modelDir, "trigger.json")).then(() => true, () => false);
  const lab = spec ? null : await labAttack(
    record.attack,
    R,
    record.attackSeed,
    record.patch ? join(modelDir, record.patch) : undefined,
    record.attack === "badnet" ? Number(record.params?.patchSize) || undefined : undefined,
  );
  const attack = lab
    ? asEvalAttack(lab, record.targetIndex)
    : await specAttack(modelDir, record.targetIndex, R, record.attackSeed);
  return {
    clip,
    tokenizer,
    classNames: few.classNames,
    train: asSet(few),
    test: asSet(test),
    attack,
    labAttack: lab,
    record,
  };
}
