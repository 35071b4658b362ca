/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) with bias correction, and global-norm
 * gradient clipping, both matching PyTorch's `torch.optim.AdamW` / `clip_grad_norm_` formulas.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface AdamWOptions {
  /** Learning rate, or a schedule of the 1-based step number. */
  learningRate: number | ((step: number) => number);
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled weight decay λ: p ← p − lr·λ·p before the Adam update. Default 0. */
  weightDecay?: number;
  /** Which variables decay (default all); e.g. exclude norms and biases. */
  decays?: (v: tf.Variable) => boolean;
}

/**
 * AdamW over a fixed list of variables. State (m, v) lives in tensors owned by this object;
 * call dispose() when done.
 *
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,  m̂ = m/(1−β1ᵗ),  v̂ = v/(1−β2ᵗ)
 *   p ← p·(1 − lr·λ) − lr·m̂/(√v̂ + ε)
 */
export class AdamW {
  private readonly m: tf.Tensor[];
  private readonly v: tf.Tensor[];
  private t = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;

  constructor(private readonly variables: tf.Variable[], private readonly options: AdamWOptions) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    this.m = variables.map((x) => tf.zerosLike(x));
    this.v = variables.map((x) => tf.zerosLike(x));
  }

  /** Steps taken so far. */
  get step(): number {
    return this.t;
  }

  /** The learning rate the next (or given 1-based) step uses. */
  learningRateAt(step = this.t + 1): number {
    const lr = this.options.learningRate;
    return typeof lr === 'number' ? lr : lr(step);
  }

  /**
   * Applies one update. `grads[i]` belongs to `variables[i]`; a null gradient skips that variable
   * (as PyTorch skips parameters whose grad is None). Does not dispose the gradients.
   */
  apply(grads: (tf.Tensor | null)[]): void {
    if (grads.length !== this.variables.length) throw new Error(`expected ${this.variables.length} gradients, got ${grads.length}`);
    this.t += 1;
    const lr = this.learningRateAt(this.t);
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    for (let i = 0; i < grads.length; i++) {
      const g = grads[i];
      if (!g) continue;
      const p = this.variables[i];
      const decay = this.weightDecay > 0 && (this.options.decays?.(p) ?? true) ? lr * this.weightDecay : 0;
      const [m, v] = tf.tidy(() => {
        const m = tf.add(tf.mul(this.m[i], this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(this.v[i], this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.epsilon));
        const decayed = decay > 0 ? tf.mul(p, 1 - decay) : p;
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
        return [m, v];
      });
      this.m[i].dispose();
      this.v[i].dispose();
      this.m[i] = m;
      this.v[i] = v;
    }
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}

/**
 * Scales gradients so their global L2 norm is at most maxNorm, as torch's clip_grad_norm_:
 * factor = min(1, maxNorm / (norm + 1e-6)). Returns new tensors (inputs untouched) and the norm
 * before clipping.
 */
export function clipByGlobalNorm(grads: tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; norm: number } {
  const norm = globalNorm(grads);
  const factor = Math.min(1, maxNorm / (norm + 1e-6));
  return { grads: grads.map((g) => (factor < 1 ? tf.mul(g, factor) : tf.clone(g))), norm };
}

/** √(Σ‖g‖²) over all gradients, as a number. */
export function globalNorm(grads: tf.Tensor[]): number {
  if (grads.length === 0) return 0;
  const sq = tf.tidy(() => tf.addN(grads.map((g) => tf.sum(tf.square(g)))));
  const value = Math.sqrt(sq.dataSync()[0]);
  sq.dispose();
  return value;
}

/** Linear warm-up to `peak` over `warmupSteps`, then cosine decay to `peak·minRatio` at `totalSteps`. */
export function warmupCosineSchedule(peak: number, warmupSteps: number, totalSteps: number, minRatio = 0.1): (step: number) => number {
  return (step) => {
    if (step <= warmupSteps) return (peak * step) / Math.max(1, warmupSteps);
    const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
    return peak * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
  };
}
