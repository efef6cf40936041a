// Optimisers that update parameters in place on the GPU, schedules, and projections.

import { adamStep, clampInPlace as clampKernel, sgdStep } from "../gpu/shaders/optim.ts";
import { grid1d, kernel, launch } from "./ops/launch.ts";
import { fillInPlace } from "./ops/movement.ts";
import { Tensor } from "./tensor.ts";

/** Clamps a tensor's values in place (not recorded). */
export function clampInPlace(t: Tensor, lo: number, hi: number): Tensor {
  launch(kernel("clamp_in_place", clampKernel), [t], grid1d(t.size), { n: t.size, lo, hi });
  return t;
}

/** A projection onto the L∞ ball of radius eps, for `project` options. */
export const linfBall = (eps: number): (p: Tensor) => void => (p: Tensor): void =>
  void clampInPlace(p, -eps, eps);

/** The options every optimiser takes. */
export interface OptimizerOptions {
  /** The learning rate (the `lr` field changes it later, e.g. from a schedule). */
  lr: number;
  /** L2 weight decay (AdamW: decoupled; default 0, AdamW's 0.01). */
  weightDecay?: number;
  /** Applied to every parameter after each step (e.g. linfBall(16 / 255)). */
  project?: (param: Tensor) => void;
}

/**
 * An optimiser of leaf tensors that require grad: `step()` updates them in place on the GPU from
 * their `grad`, `zeroGrad()` frees the gradients. Subclasses say what state a parameter keeps
 * and how one update goes.
 */
export abstract class Optimizer {
  /** The learning rate of the next step. */
  lr: number;
  /** Calls to step() so far. */
  stepCount = 0;
  /** Each parameter's state tensors (momentum, moments), made at its first update. */
  protected state: Map<Tensor, Tensor[]> = new Map();
  /** Steps each parameter has taken (PyTorch counts per parameter for Adam's bias correction). */
  protected paramSteps: Map<Tensor, number> = new Map();

  /** Checks that every parameter is a leaf that requires grad. */
  constructor(
    /** The parameters updated in place. */
    readonly params: readonly Tensor[],
    /** The options given. */
    protected opts: OptimizerOptions,
  ) {
    for (const p of params) {
      if (!p.requiresGrad || p.node) {
        throw new Error(`optimizer: ${p} is not a leaf tensor that requires grad`);
      }
    }
    this.lr = opts.lr;
  }

  /** Updates every parameter that has a gradient. */
  step(): void {
    this.stepCount++;
    for (const p of this.params) {
      if (!p.grad) continue;
      let st = this.state.get(p);
      if (!st) {
        st = this.initState(p).map((t) => fillInPlace(t, 0).keep());
        this.state.set(p, st);
      }
      const t = (this.paramSteps.get(p) ?? 0) + 1;
      this.paramSteps.set(p, t);
      this.update(p, p.grad, st, t);
      this.opts.project?.(p);
    }
  }

  /** Frees the gradients (the next backward starts from zero). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** The state tensors of a parameter (momentum, moments) and its step count, for checkpoints. */
  stateOf(p: Tensor): { tensors: readonly Tensor[]; steps: number } | null {
    const st = this.state.get(p);
    return st ? { tensors: st, steps: this.paramSteps.get(p) ?? 0 } : null;
  }

  /** Restores a parameter's state from host arrays (as saved from stateOf). */
  restoreState(p: Tensor, arrays: readonly Float32Array[], steps: number): void {
    const fresh = this.initState(p);
    if (fresh.length !== arrays.length) {
      throw new Error(`optimizer state: ${arrays.length} arrays, expected ${fresh.length}`);
    }
    for (const t of fresh) t.dispose();
    this.state.get(p)?.forEach((t) => t.dispose());
    this.state.set(p, arrays.map((a) => Tensor.from(a, p.shape).keep()));
    this.paramSteps.set(p, steps);
  }

  /** Frees optimiser state. */
  dispose(): void {
    for (const st of this.state.values()) for (const t of st) t.dispose();
    this.state.clear();
    this.paramSteps.clear();
  }

  /** A parameter's state tensors, uninitialised (step() zeroes them). */
  protected abstract initState(p: Tensor): Tensor[];
  /** One update of `p` from its gradient `g`; `t` is the parameter's step count from 1. */
  protected abstract update(p: Tensor, g: Tensor, state: Tensor[], t: number): void;
}

/** Options of {@link SGD}. */
export interface SgdOptions extends OptimizerOptions {
  /** Momentum factor (default 0: plain SGD). */
  momentum?: number;
}

/** SGD with momentum and (L2) weight decay, as torch.optim.SGD. */
export class SGD extends Optimizer {
  /** An SGD over `params`. */
  constructor(params: readonly Tensor[], private sgd: SgdOptions) {
    super(params, sgd);
  }
  /** The momentum buffer. */
  protected initState(p: Tensor): Tensor[] {
    return [Tensor.empty(p.shape)];
  }
  /** One SGD step. */
  protected update(p: Tensor, g: Tensor, [m]: Tensor[], t: number): void {
    const first = t === 1 ? 1 : 0;
    launch(kernel("sgd", sgdStep), [p, g, m], grid1d(p.size), {
      n: p.size,
      lr: this.lr,
      momentum: this.sgd.momentum ?? 0,
      wd: this.opts.weightDecay ?? 0,
      first,
    });
  }
}

/** Options of {@link Adam} and {@link AdamW}. */
export interface AdamOptions extends OptimizerOptions {
  /** Decay rates of the first and second moment estimates (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to the denominator for stability (default 1e-8). */
  eps?: number;
}

/** Adam (weight decay added to the gradient), as torch.optim.Adam. */
export class Adam extends Optimizer {
  /** Decoupled weight decay (AdamW) rather than decay added to the gradient. */
  protected decoupled = false;
  /** An Adam over `params`. */
  constructor(params: readonly Tensor[], private adam: AdamOptions) {
    super(params, adam);
  }
  /** The first and second moment estimates. */
  protected initState(p: Tensor): Tensor[] {
    return [Tensor.empty(p.shape), Tensor.empty(p.shape)];
  }
  /** One Adam step, with PyTorch's per-parameter bias correction. */
  protected update(p: Tensor, g: Tensor, [m, v]: Tensor[], t: number): void {
    const [b1, b2] = this.adam.betas ?? [0.9, 0.999];
    launch(kernel("adam", adamStep), [p, g, m, v], grid1d(p.size), {
      n: p.size,
      lr: this.lr,
      b1,
      b2,
      eps: this.adam.eps ?? 1e-8,
      wd: this.opts.weightDecay ?? 0,
      bc1: 1 - b1 ** t,
      bc2: 1 - b2 ** t,
      decoupled: this.decoupled ? 1 : 0,
    });
  }
}

/** AdamW: decoupled weight decay (default 0.01), as torch.optim.AdamW. */
export class AdamW extends Adam {
  /** An AdamW over `params` (weightDecay defaults to 0.01). */
  constructor(params: readonly Tensor[], opts: AdamOptions) {
    super(params, { weightDecay: 0.01, ...opts });
    this.decoupled = true;
  }
}

/** Options of {@link cosineSchedule}. */
export interface CosineOptions {
  /** The rate at the end of the warm-up. */
  baseLr: number;
  /** The step at which the rate reaches minLr. */
  totalSteps: number;
  /** Steps of linear warm-up from baseLr / warmupSteps (default 0). */
  warmupSteps?: number;
  /** The final rate (default 0). */
  minLr?: number;
}

/** Linear warm-up to baseLr, then cosine decay to minLr at totalSteps. `step` counts from 0. */
export function cosineSchedule(o: CosineOptions): (step: number) => number {
  const warm = o.warmupSteps ?? 0, min = o.minLr ?? 0;
  return (step: number) => {
    if (step < warm) return (o.baseLr * (step + 1)) / warm;
    const t = Math.min(1, (step - warm) / Math.max(1, o.totalSteps - warm));
    return min + 0.5 * (o.baseLr - min) * (1 + Math.cos(Math.PI * t));
  };
}
