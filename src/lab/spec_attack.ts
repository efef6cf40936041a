// An attack described by a `trigger.json` beside a model that other code backdoored
// (tools/torch-family writes one): a BadNet checkerboard pasted at a random position, a Blended
// noise picture, or a SIG sinusoid, on grey images in [0, 1] (all three channels alike). The lab
// measures ASR on those models with it; nothing in CBPT reads it.

import { join } from "node:path";
import { mulberry32 } from "../io/rng.ts";
import type { AppliedAttack } from "../cbpt/run.ts";

interface TriggerSpec {
  attack: "badnet" | "blended" | "sig";
  imageSize: number;
  size?: number;
  alpha?: number;
  delta?: number;
  frequency?: number;
  seed?: number;
}

/** The attack of `dir/trigger.json` toward class `target`, for images of side `resolution`. */
export async function specAttack(
  dir: string,
  target: number,
  resolution: number,
  seed = 0,
): Promise<AppliedAttack> {
  const path = join(dir, "trigger.json");
  let spec: TriggerSpec;
  try {
    spec = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new Error(`${path}: cannot read the trigger spec (${(e as Error).message})`);
  }
  const S = spec.imageSize;
  if (S !== resolution) {
    throw new Error(`${path}: the trigger is for ${S} px images, the model takes ${resolution} px`);
  }
  const plane = S * S;
  let perPixel: (x: Float32Array, img: number) => void;
  if (spec.attack === "badnet") {
    const k = spec.size ?? 4;
    if (!(k >= 1 && k <= S)) throw new Error(`${path}: size ${k} out of range`);
    const rand = mulberry32(seed * 7 + 1);
    perPixel = (x) => {
      const r0 = Math.floor(rand() * (S - k + 1)), c0 = Math.floor(rand() * (S - k + 1));
      for (let ch = 0; ch < 3; ch++) {
        for (let i = 0; i < k; i++) {
          for (let j = 0; j < k; j++) x[ch * plane + (r0 + i) * S + c0 + j] = (i + j) % 2 ? 0 : 1;
        }
      }
    };
  } else if (spec.attack === "blended") {
    const { sharp } = await import("../io/sharp.ts");
    const png = join(dir, "trigger.png");
    const raw = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
    if (raw.info.width !== S || raw.info.height !== S) {
      throw new Error(`${png}: expected ${S}×${S}, got ${raw.info.width}×${raw.info.height}`);
    }
    const a = spec.alpha ?? 0.2;
    perPixel = (x) => {
      for (let q = 0; q < 3 * plane; q++) x[q] = (1 - a) * x[q] + a * raw.data[q % plane] / 255;
    };
  } else if (spec.attack === "sig") {
    const d = spec.delta ?? 0.1, f = spec.frequency ?? 6;
    perPixel = (x) => {
      for (let q = 0; q < 3 * plane; q++) {
        const col = q % S;
        x[q] = Math.min(1, Math.max(0, x[q] + d * Math.sin((2 * Math.PI * col * f) / S)));
      }
    };
  } else {
    throw new Error(`${path}: unknown attack "${(spec as { attack: string }).attack}"`);
  }
  return {
    name: spec.attack,
    target,
    apply: (set) => {
      const m = 3 * plane, out = set.pixels.slice();
      for (let i = 0; i < set.n; i++) perPixel(out.subarray(i * m, (i + 1) * m), i);
      return { pixels: out, n: set.n, size: set.size };
    },
  };
}
