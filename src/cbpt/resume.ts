// A run's resume state, kept beside stage 2's checkpoint: the settings that shape the result,
// stage 1's outcome (the trigger and what the search found) and the chosen recipe. A resumed
// run skips what is done and refuses settings that differ from those it started with, unless
// told to take them (then the report records what changed).

import { fileExists } from "../io/files.ts";
import { join } from "node:path";
import {
  readSafetensors,
  type TensorSpec,
  toFloat32,
  writeSafetensors,
} from "../io/safetensors.ts";
import type { ImageSet } from "../io/images.ts";
import type { RecipeChoice } from "./recipe.ts";
import type { ScanReport } from "./scan.ts";
import type { HostTrigger, TriggerAttempt } from "./trigger.ts";

/** Stage 1's outcome: what stage 2 tunes against, and the evidence behind it. */
export interface Stage1Outcome {
  trigger: HostTrigger;
  suspectedTarget: number;
  targetShare: number;
  losses: number[];
  attempts: TriggerAttempt[];
  seconds: number;
  scan?: ScanReport;
}

/** What a run keeps for --resume. */
export interface RunState {
  /** The settings and inputs that shape the result (runIdentity). */
  identity: Record<string, unknown>;
  stage1: Stage1Outcome;
  recipe?: RecipeChoice;
}

/** The state file's name in a run's folder (beside checkpoint.safetensors). */
export const STATE_FILE = "stage1.safetensors";

/** FNV-1a over the few shots' pixels and labels: a resumed run must see the same data. */
export function dataFingerprint(set: ImageSet, labels: readonly number[]): string {
  let h = 0x811c9dc5;
  const bytes = new Uint8Array(set.pixels.buffer, set.pixels.byteOffset, set.pixels.byteLength);
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  for (const y of labels) h = Math.imul(h ^ (y & 0xff), 0x01000193);
  return `${set.n}x${set.size}-${(h >>> 0).toString(16).padStart(8, "0")}`;
}

/**
 * Each setting that differs between two identities, as "path old → new" (nested objects by
 * dotted path); empty when they agree.
 */
export function settingChanges(
  was: Record<string, unknown>,
  now: Record<string, unknown>,
  at = "",
): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(was), ...Object.keys(now)])) {
    const a = was[k], b = now[k], path = at ? `${at}.${k}` : k;
    const isObj = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
    if (isObj(a) && isObj(b)) {
      out.push(
        ...settingChanges(a as Record<string, unknown>, b as Record<string, unknown>, path),
      );
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      out.push(`${path} ${JSON.stringify(a) ?? "unset"} → ${JSON.stringify(b) ?? "unset"}`);
    }
  }
  return out;
}

/** Writes the state atomically into `dir` (created if needed). */
export async function saveRunState(dir: string, s: RunState): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const t = s.stage1.trigger;
  const tensors: Record<string, TensorSpec> = t.kind === "additive"
    ? { delta: { dtype: "F32" as const, shape: [3, t.size, t.size], data: t.delta } }
    : {
      mask: { dtype: "F32" as const, shape: [1, t.size, t.size], data: t.mask },
      pattern: { dtype: "F32" as const, shape: [3, t.size, t.size], data: t.pattern },
    };
  const { trigger: _, ...rest } = s.stage1;
  await writeSafetensors(join(dir, STATE_FILE), tensors, {
    identity: JSON.stringify(s.identity),
    trigger: JSON.stringify(
      t.kind === "additive" ? { kind: t.kind, epsilon: t.epsilon } : {
        kind: t.kind,
      },
    ),
    stage1: JSON.stringify(rest),
    ...(s.recipe ? { recipe: JSON.stringify(s.recipe) } : {}),
  });
}

/** The state in `dir`, or null when there is none. A malformed file is an error naming it. */
export async function loadRunState(dir: string): Promise<RunState | null> {
  const path = join(dir, STATE_FILE);
  if (!(await fileExists(path))) return null;
  const st = await readSafetensors(path);
  const meta = st.metadata ?? {};
  try {
    const kind = JSON.parse(meta.trigger);
    const tensor = (name: string) => {
      const t = st.tensors.get(name);
      if (!t) throw new Error(`no tensor "${name}"`);
      return { data: toFloat32(t, name), size: t.shape[2] };
    };
    let trigger: HostTrigger;
    if (kind.kind === "additive") {
      const d = tensor("delta");
      trigger = { kind: "additive", size: d.size, epsilon: kind.epsilon, delta: d.data };
    } else {
      const m = tensor("mask"), p = tensor("pattern");
      trigger = { kind: "mask", size: m.size, mask: m.data, pattern: p.data };
    }
    return {
      identity: JSON.parse(meta.identity),
      stage1: { ...JSON.parse(meta.stage1), trigger },
      ...(meta.recipe ? { recipe: JSON.parse(meta.recipe) } : {}),
    };
  } catch (e) {
    throw new Error(
      `${path}: not a resume state this version can read (${(e as Error).message}); ` +
        `rerun without --resume`,
    );
  }
}
