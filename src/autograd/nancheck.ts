// Debug mode that locates the first NaN or Inf: after every dispatch, a tiny kernel flags
// non-finite words in each f32 buffer the kernel wrote; the next readback reads the flags too
// (in the same submit) and throws, naming the kernel that first produced the bad value.

import type { BufferRef, Kernel, ReadRegion } from "../gpu/runtime.ts";
import { rt } from "../gpu/runtime.ts";
import { nonFiniteCheck } from "../gpu/shaders/optim.ts";

const MAX_CHECKS = 1 << 16;
const checkKernel = nonFiniteCheck();
let flags: GPUBuffer | null = null;
let names: string[] = [];

/** A readback found a NaN or Inf while `setNanCheck(true)` was on; `kernel` made it first. */
export class NonFiniteError extends Error {
  /** Always "NonFiniteError". */
  override name = "NonFiniteError";
  /** An error naming `kernel`, the kernel that first wrote a non-finite value. */
  constructor(message: string, readonly kernel: string) {
    super(message);
  }
}

/** Turns the NaN/Inf check on or off (off by default: it costs one small dispatch per op). */
export function setNanCheck(on: boolean): void {
  const r = rt();
  if (!on) {
    r.afterDispatch = null;
    names = [];
    return;
  }
  if (!flags) {
    flags = r.device.createBuffer({
      size: MAX_CHECKS * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }
  r.afterDispatch = (kernel: Kernel, written: BufferRef[]) => {
    if (kernel === checkKernel) return;
    for (const w of written) {
      if (!w.float || names.length >= MAX_CHECKS) continue;
      const slot = names.length;
      names.push(kernel.name);
      r.dispatch(checkKernel, [w, { buffer: flags!, size: MAX_CHECKS * 4 }], [1], {
        n: w.size / 4,
        slot,
      });
    }
  };
}

export function isNanCheckOn(): boolean {
  return rt().afterDispatch !== null;
}

/** The flags to read along with the next readback, if any checks are pending. */
export function nanCheckRegion(): ReadRegion | null {
  if (!flags || names.length === 0 || !isNanCheckOn()) return null;
  return { buffer: flags, bytes: names.length * 4 };
}

/** Throws NonFiniteError if any flag is set; clears the flags either way. */
export function checkNonFinite(flagBytes: ArrayBuffer): void {
  const f = new Uint32Array(flagBytes);
  const checked = names;
  names = [];
  rt().upload(flags!, new Uint32Array(f.length));
  const first = f.findIndex((v) => v !== 0);
  if (first >= 0) {
    const kernel = checked[first];
    throw new NonFiniteError(
      `NaN or Inf first produced by op ${kernel.replace(/\..*/, "")} (kernel ${kernel}, ` +
        `dispatch ${first + 1} of ${checked.length} checked since the last read)`,
      kernel,
    );
  }
}
