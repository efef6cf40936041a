// A profile by replay: the dispatches of one call (Runtime.capture) are encoded again, one kernel
// name at a time, and each group is timed on its own. Timestamp queries are not on every adapter
// (llvmpipe over GL has none), and a sync after every dispatch would cost ~11 ms each; here a
// group's dispatches are repeated until its submit lasts `minSeconds`, and the cost of an empty
// submit and wait is taken off. The buffers hold whatever they last held: the kernels' speed does
// not depend on their data, and their results are thrown away.

import type { CapturedDispatch, Runtime } from "./runtime.ts";
import { UNIFORM_SLOT } from "./uniforms.ts";

/** One kernel name's share of a captured call. */
export interface KernelTime {
  name: string;
  /** Its dispatches in the call. */
  dispatches: number;
  /** Seconds its dispatches of one call take, replayed on their own. */
  seconds: number;
}

/** Times the captured dispatches grouped by kernel name, slowest first. */
export async function replayByKernel(
  rt: Runtime,
  captured: readonly CapturedDispatch[],
  minSeconds = 0.2,
): Promise<KernelTime[]> {
  rt.flush();
  await rt.device.queue.onSubmittedWorkDone();
  const device = rt.device;
  // One uniform buffer holds every captured slot (256-byte aligned, as bind groups need).
  const uniforms = device.createBuffer({
    size: Math.max(1, captured.length) * UNIFORM_SLOT,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  captured.forEach((d, i) => device.queue.writeBuffer(uniforms, i * UNIFORM_SLOT, d.uniforms));
  const groups = new Map<string, number[]>();
  captured.forEach((d, i) => {
    const g = groups.get(d.kernel.name) ?? [];
    g.push(i);
    groups.set(d.kernel.name, g);
  });
  // Looked up once: the runtime's pipeline cache keys on the kernel's whole WGSL, too dear to
  // build inside the timed loop.
  const pipelines = captured.map((d) => rt.pipeline(d.kernel));
  const bindGroups = captured.map((d, i) =>
    device.createBindGroup({
      layout: pipelines[i].layout,
      entries: [
        {
          binding: 0,
          resource: { buffer: uniforms, offset: i * UNIFORM_SLOT, size: UNIFORM_SLOT },
        },
        ...d.buffers.map((b, j) => ({
          binding: j + 1,
          resource: { buffer: b.buffer, size: Math.ceil(b.size / 4) * 4 },
        })),
      ],
    })
  );
  /** Seconds for `reps` rounds of the dispatches `ids`, one submit, one wait. */
  const run = async (ids: readonly number[], reps: number): Promise<number> => {
    const t0 = performance.now();
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let r = 0; r < reps; r++) {
      for (const i of ids) {
        pass.setPipeline(pipelines[i].pipeline);
        pass.setBindGroup(0, bindGroups[i]);
        pass.dispatchWorkgroups(...captured[i].grid);
      }
    }
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / 1000;
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const empty: number[] = [];
  for (let k = 0; k < 5; k++) empty.push(await run([], 1));
  const idle = median(empty);
  const out: KernelTime[] = [];
  try {
    for (const [name, ids] of groups) {
      await run(ids, 1); // warm
      let reps = 1, s = await run(ids, 1);
      while (s < minSeconds && reps < 4096) {
        reps = Math.min(4096, Math.ceil(reps * Math.min(16, 1.2 * minSeconds / Math.max(s, 1e-4))));
        s = await run(ids, reps);
      }
      out.push({ name, dispatches: ids.length, seconds: Math.max(0, s - idle) / reps });
    }
  } finally {
    uniforms.destroy();
  }
  return out.sort((a, b) => b.seconds - a.seconds);
}
