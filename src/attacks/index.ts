// The backdoor lab's seven attacks (docs/attacks.md): pure functions on [0, 1] image batches
// [N, 3, S, S] plus their caption rules, a registry keyed by name, and BadCLIP's patch
// optimiser.

import { badclip, type BadClipAttack, type BadClipOptions } from "./patch.ts";
import { badnet, type BadNetAttack, type BadNetOptions } from "./patch.ts";
import { trojvqa, type TrojVqaAttack, type TrojVqaOptions } from "./patch.ts";
import { blended, type BlendedAttack, type BlendedOptions } from "./blend.ts";
import { sig, type SigAttack, type SigOptions } from "./blend.ts";
import { wanet, type WanetAttack, type WanetOptions } from "./wanet.ts";
import { ssba, type SsbaAttack, type SsbaOptions } from "./ssba.ts";
import { ATTACK_NAMES, type AttackName } from "./types.ts";

export {
  type ApplyOptions,
  type Attack,
  ATTACK_NAMES,
  type AttackName,
  type BaseAttackOptions,
} from "./types.ts";
export { centreOffset, type ImageShape, scaledSide, toClipPixels } from "./pixels.ts";
export {
  badclip,
  type BadClipAttack,
  type BadClipOptions,
  badnet,
  type BadNetAttack,
  type BadNetOptions,
  trojvqa,
  type TrojVqaAttack,
  type TrojVqaOptions,
} from "./patch.ts";
export {
  blended,
  type BlendedAttack,
  type BlendedOptions,
  sig,
  type SigAttack,
  type SigOptions,
} from "./blend.ts";
export { bicubicUpsample, wanet, type WanetAttack, type WanetOptions } from "./wanet.ts";
export { ssba, type SsbaAttack, type SsbaOptions } from "./ssba.ts";
export {
  type BadClipPatchOptions,
  type BadClipPatchResult,
  encodeTargetText,
  optimiseBadClipPatch,
} from "./badclip.ts";

/** Each attack's options. */
export interface AttackOptionsMap {
  /** BadNet's options. */
  badnet: BadNetOptions;
  /** Blended's options. */
  blended: BlendedOptions;
  /** SIG's options. */
  sig: SigOptions;
  /** WaNet's options. */
  wanet: WanetOptions;
  /** SSBA's options. */
  ssba: SsbaOptions;
  /** TrojVQA's options. */
  trojvqa: TrojVqaOptions;
  /** BadCLIP's options. */
  badclip: BadClipOptions;
}

/** Each attack's object (the Attack interface plus what it exposes for inspection). */
export interface AttackMap {
  /** BadNet. */
  badnet: BadNetAttack;
  /** Blended. */
  blended: BlendedAttack;
  /** SIG. */
  sig: SigAttack;
  /** WaNet. */
  wanet: WanetAttack;
  /** SSBA. */
  ssba: SsbaAttack;
  /** TrojVQA. */
  trojvqa: TrojVqaAttack;
  /** BadCLIP. */
  badclip: BadClipAttack;
}

/** The seven attacks by name. */
export const ATTACKS: { readonly [K in AttackName]: (o: AttackOptionsMap[K]) => AttackMap[K] } = {
  badnet,
  blended,
  sig,
  wanet,
  ssba,
  trojvqa,
  badclip,
};

export function isAttackName(name: string): name is AttackName {
  return (ATTACK_NAMES as readonly string[]).includes(name);
}

/**
 * makeAttack("sig", { imageSize: 32, seed: 1 }). A name from the command line can be checked
 * with isAttackName; an unknown one throws, listing the seven.
 */
export function makeAttack<K extends AttackName>(name: K, opts: AttackOptionsMap[K]): AttackMap[K] {
  if (!isAttackName(name)) {
    throw new Error(`unknown attack "${name}"; expected one of ${ATTACK_NAMES.join(", ")}`);
  }
  return (ATTACKS[name] as (o: AttackOptionsMap[K]) => AttackMap[K])(opts);
}
