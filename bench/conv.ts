// Convolution speed on RN50's shapes at 224 px (channels-last implicit GEMM, src/autograd/ops/
// conv.ts, weights laid out once as the ResNet tower's cache does): GFLOP/s of the forward, and
// of the forward plus the input gradient (twice the FLOPs), per distinct shape, and the network
// total (each shape weighted by how often RN50 runs it). GFLOP = 2·B·Ho·Wo·O·C·kh·kw.
// Each figure is the best of --repeats timings. On a shared machine wall-clock rates swing with
// the load; GFLOP per CPU-second of this process (llvmpipe's threads included) swings less
// (2 idle cores give wall GFLOP/s ≈ 2 × that).
//
// Usage: deno run -A bench/conv.ts [--images 2] [--seconds 0.5] [--repeats 3] [--json]
//        [--only 3x3]

import { parseFlags } from "../src/cli/common.ts";
import process from "node:process";
import { conv2dNhwc, ConvWeightCache, noGrad, runWithGpu, sync, Tensor, tidy } from "../mod.ts";
import { rt } from "../src/gpu/runtime.ts";

const { values } = parseFlags({
  args: Deno.args,
  options: {
    images: { type: "string", default: "2" },
    seconds: { type: "string", default: "0.5" },
    repeats: { type: "string", default: "3" },
    json: { type: "boolean" },
    only: { type: "string" },
  },
});
const B = Number(values.images), target = Number(values.seconds);
const repeats = Number(values.repeats);

// [what, H (input), C, O, k, stride, padding, uses in RN50]
const SHAPES: [string, number, number, number, number, number, number, number][] = [
  ["stem conv1 3x3 s2", 224, 3, 32, 3, 2, 1, 1],
  ["stem conv2 3x3", 112, 32, 32, 3, 1, 1, 1],
  ["stem conv3 3x3", 112, 32, 64, 3, 1, 1, 1],
  ["L1 1x1 64->64", 56, 64, 64, 1, 1, 0, 1],
  ["L1 1x1 256->64", 56, 256, 64, 1, 1, 0, 2],
  ["L1 3x3 64", 56, 64, 64, 3, 1, 1, 3],
  ["L1 1x1 64->256", 56, 64, 256, 1, 1, 0, 4], // conv3 ×3 + downsample
  ["L2 1x1 256->128 @56", 56, 256, 128, 1, 1, 0, 1],
  ["L2 3x3 128 @56", 56, 128, 128, 3, 1, 1, 1],
  ["L2 1x1 256->512 @28", 28, 256, 512, 1, 1, 0, 1], // downsample
  ["L2 1x1 512->128", 28, 512, 128, 1, 1, 0, 3],
  ["L2 3x3 128", 28, 128, 128, 3, 1, 1, 3],
  ["L2 1x1 128->512", 28, 128, 512, 1, 1, 0, 4],
  ["L3 1x1 512->256 @28", 28, 512, 256, 1, 1, 0, 1],
  ["L3 3x3 256 @28", 28, 256, 256, 3, 1, 1, 1],
  ["L3 1x1 512->1024 @14", 14, 512, 1024, 1, 1, 0, 1],
  ["L3 1x1 1024->256", 14, 1024, 256, 1, 1, 0, 5],
  ["L3 3x3 256", 14, 256, 256, 3, 1, 1, 5],
  ["L3 1x1 256->1024", 14, 256, 1024, 1, 1, 0, 6],
  ["L4 1x1 1024->512 @14", 14, 1024, 512, 1, 1, 0, 1],
  ["L4 3x3 512 @14", 14, 512, 512, 3, 1, 1, 1],
  ["L4 1x1 1024->2048 @7", 7, 1024, 2048, 1, 1, 0, 1],
  ["L4 1x1 2048->512", 7, 2048, 512, 1, 1, 0, 2],
  ["L4 3x3 512", 7, 512, 512, 3, 1, 1, 2],
  ["L4 1x1 512->2048", 7, 512, 2048, 1, 1, 0, 3],
];

/** Best wall and CPU seconds per call over `repeats` timings of enough calls to fill `target`. */
async function timeIt(step: () => void): Promise<{ wall: number; cpu: number }> {
  step();
  await sync();
  let calls = 1, wall = Infinity, cpu = Infinity;
  for (let r = 0; r < repeats;) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) step();
    await sync();
    const s = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    if (s < target && calls < 256) {
      calls = Math.min(256, Math.max(calls + 1, Math.ceil((calls * target) / Math.max(s, 1e-3))));
      continue;
    }
    wall = Math.min(wall, s / calls);
    cpu = Math.min(cpu, (c.user + c.system) / 1e6 / calls);
    r++;
  }
  return { wall, cpu };
}

await runWithGpu(async () => {
  if (!values.json) {
    console.log(`# RN50 convolutions, ${B} images of 224 px, on ${rt().gpu.summary.description}`);
    console.log(
      "shape                       x NHWC            uses  fwd ms GFLOP/s /cpu-s  +dx ms " +
        "GFLOP/s /cpu-s",
    );
  }
  let flopsAll = 0, fwdAll = 0, bothAll = 0, fwdCpu = 0, bothCpu = 0;
  const rate = (f: number, s: number) => +(f / s / 1e9).toFixed(1);
  for (const [what, H, C, O, k, s, p, uses] of SHAPES) {
    if (values.only && !what.includes(values.only)) continue;
    const Ho = Math.floor((H + 2 * p - k) / s) + 1;
    const flops = 2 * B * Ho * Ho * O * C * k * k;
    const x = Tensor.from(new Float32Array(B * H * H * C).map((_, i) => Math.sin(i)), [B, H, H, C]);
    const xg = Tensor.from(new Float32Array(B * H * H * C), [B, H, H, C], { requiresGrad: true });
    const wData = new Float32Array(O * C * k * k).map((_, i) => Math.cos(i) * 0.1);
    const w = Tensor.from(wData, [O, C, k, k]);
    const seed = Tensor.from(new Float32Array(B * Ho * Ho * O).fill(1), [B, Ho, Ho, O]);
    const weightCache = new ConvWeightCache();
    const opts = { stride: s, padding: p, weightCache };
    const fwd = await timeIt(() => noGrad(() => tidy(() => void conv2dNhwc(x, w, opts))));
    // Forward + input gradient: twice the forward's FLOPs.
    const both = await timeIt(() =>
      tidy(() => {
        conv2dNhwc(xg, w, opts).backward(seed);
        xg.grad?.dispose();
        xg.grad = null;
      })
    );
    flopsAll += uses * flops;
    fwdAll += uses * fwd.wall;
    bothAll += uses * both.wall;
    fwdCpu += uses * fwd.cpu;
    bothCpu += uses * both.cpu;
    const row = {
      shape: what,
      x: [B, H, H, C],
      uses,
      fwd_ms: +(fwd.wall * 1e3).toFixed(2),
      fwd_gflops: rate(flops, fwd.wall),
      fwd_gflop_per_cpu_s: rate(flops, fwd.cpu),
      fwd_dx_ms: +(both.wall * 1e3).toFixed(2),
      fwd_dx_gflops: rate(2 * flops, both.wall),
      fwd_dx_gflop_per_cpu_s: rate(2 * flops, both.cpu),
    };
    if (values.json) console.log(JSON.stringify(row));
    else {
      const cols = [
        [row.fwd_ms, 7],
        [row.fwd_gflops, 7],
        [row.fwd_gflop_per_cpu_s, 6],
        [row.fwd_dx_ms, 7],
        [row.fwd_dx_gflops, 7],
        [row.fwd_dx_gflop_per_cpu_s, 6],
      ].map(([v, n]) => v.toFixed(1).padStart(n));
      console.log(
        `${what.padEnd(27)} ${JSON.stringify(row.x).padEnd(18)} ${String(uses).padStart(3)} ` +
          cols.join(" "),
      );
    }
    weightCache.dispose();
    for (const t of [x, xg, w, seed]) t.dispose();
  }
  const total = {
    shape: "RN50 total (weighted by uses)",
    gflop: +(flopsAll / 1e9).toFixed(2),
    fwd_s: +fwdAll.toFixed(3),
    fwd_gflops: rate(flopsAll, fwdAll),
    fwd_gflop_per_cpu_s: rate(flopsAll, fwdCpu),
    fwd_dx_s: +bothAll.toFixed(3),
    fwd_dx_gflops: rate(2 * flopsAll, bothAll),
    fwd_dx_gflop_per_cpu_s: rate(2 * flopsAll, bothCpu),
  };
  if (values.json) console.log(JSON.stringify(total));
  else {
    console.log(
      `${total.shape}: ${total.gflop} GFLOP; forward ${total.fwd_s} s (${total.fwd_gflops} ` +
        `GFLOP/s, ${total.fwd_gflop_per_cpu_s} per CPU-s); forward + input gradient ` +
        `${total.fwd_dx_s} s (${total.fwd_dx_gflops} GFLOP/s, ${total.fwd_dx_gflop_per_cpu_s} ` +
        `per CPU-s)`,
    );
  }
});
