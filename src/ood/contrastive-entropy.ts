/**
 * Contrastive entropy loss (O3, DESIGN §3.2) for the detector's trainable path, in tfjs.
 *
 * Trainable path: one linear projection head per layer, W_l [d, d] initialised to the identity
 * (so the untrained detector equals the training-free one), applied to the frozen base model's
 * features of the masked view. Frozen path: the unmasked view through the initial head W0_l = I.
 * Per layer, with ẑ = z/‖z‖ and temperature τ:
 *   Δ_l(i, j) = softmax_j(ẑ_l(x_i^masked)·ẑ_l(x_j) / τ)   over the batch,
 *   L = mean_i Σ_l −Σ_j Δ_l(i, j)·log Δ_l(i, j)  +  μ·Σ_l ‖W_l − W0_l‖²_F / d.
 * Normalising and τ keep the softmax out of saturation for hidden states of norm ~10–100 (set
 * `normalize: false, temperature: 1` for the literal dot product). O3's language-model regulariser
 * has no meaning for a head over frozen features; the proximal term μ·‖W − W0‖² takes its role
 * (it stops the entropy term from collapsing all items onto one direction).
 *
 * Training needs tfjs gradients registered (`ensureGradients()` in src/engine/gradients.ts, as the
 * engine trainer does). This module does not load them itself so the scoring path (detector.ts →
 * applyHead) never depends on them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { OodRandom } from './random.js';

export interface CelOptions {
  /** Softmax temperature τ. Default 0.1. */
  temperature?: number;
  /** L2-normalise projections before the dot product. Default true. */
  normalize?: boolean;
  /** Weight μ of the proximal regulariser. Default 10 (see docs/unlearning.md: stronger CEL hurt on synthetic data). */
  regularization?: number;
}

export interface CelTrainOptions extends CelOptions {
  /** Full passes over the forget prompts. Default 30. */
  epochs?: number;
  /** Adam learning rate. Default 1e-3. */
  learningRate?: number;
  /** Items per step (the softmax runs within a batch). Default 64. */
  batchSize?: number;
  seed?: number;
  onStep?: (step: number, loss: number) => void;
}

/** Trained heads as plain arrays: heads[l] is W_l [d, d] row-major. */
export interface TrainedHeads {
  dims: number[];
  heads: Float32Array[];
  losses: number[];
}

function project(x: tf.Tensor2D, w: tf.Tensor2D, normalize: boolean): tf.Tensor2D {
  const z: tf.Tensor2D = tf.matMul(x, w); // [batch, d']
  return normalize ? tf.div<tf.Tensor2D>(z, tf.sqrt(tf.add(tf.sum(tf.square(z), 1, true), 1e-12))) : z;
}

/**
 * The CEL objective for one batch. masked[l], unmasked[l]: [batch, d_l]; heads[l], init[l]: [d_l, d_l].
 * Returns a scalar; differentiable w.r.t. `heads`.
 */
export function contrastiveEntropyLoss(
  heads: tf.Tensor2D[],
  init: tf.Tensor2D[],
  masked: tf.Tensor2D[],
  unmasked: tf.Tensor2D[],
  options: CelOptions = {},
): tf.Scalar {
  const tau = options.temperature ?? 0.1;
  const normalize = options.normalize ?? true;
  const mu = options.regularization ?? 10;
  return tf.tidy(() => {
    let total: tf.Tensor = tf.scalar(0);
    heads.forEach((w, l) => {
      const za = project(masked[l], w, normalize);
      const zb = project(unmasked[l], init[l], normalize);
      const logits = tf.div(tf.matMul(za, zb, false, true), tau); // [batch, batch]
      const logP = tf.logSoftmax(logits, 1);
      const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logP), logP), 1)); // [batch]
      const prox = tf.div(tf.sum(tf.square(tf.sub(w, init[l]))), w.shape[0]);
      total = tf.add(total, tf.add(tf.mean(entropy), tf.mul(mu, prox)));
    });
    return total as tf.Scalar;
  });
}

/**
 * Trains one identity-initialised head per layer with CEL. unmasked/masked: [item][layer] features
 * (the same items in the same order). Deterministic for a seed (batch order); all tensors freed.
 */
export function trainProjectionHeads(
  unmasked: ArrayLike<number>[][],
  masked: ArrayLike<number>[][],
  options: CelTrainOptions = {},
): TrainedHeads {
  const n = unmasked.length;
  if (n !== masked.length || n === 0) throw new Error('CEL needs the same non-zero number of masked and unmasked items');
  const dims = unmasked[0].map((f) => f.length);
  const toTensor = (items: ArrayLike<number>[][], l: number, idx: number[]): tf.Tensor2D => {
    const buf = new Float32Array(idx.length * dims[l]);
    idx.forEach((i, r) => buf.set(Array.from(items[i][l]), r * dims[l]));
    return tf.tensor2d(buf, [idx.length, dims[l]]);
  };
  const init = dims.map((d) => tf.eye(d) as tf.Tensor2D);
  const heads = dims.map((d) => {
    const eye = tf.eye(d) as tf.Tensor2D;
    const v = tf.variable(eye, true);
    eye.dispose(); // the variable holds its own reference to the data
    return v;
  });
  const optimizer = tf.train.adam(options.learningRate ?? 1e-3);
  const rng = new OodRandom(options.seed ?? 0);
  const batchSize = Math.max(2, options.batchSize ?? 64);
  const losses: number[] = [];
  try {
    let step = 0;
    for (let epoch = 0; epoch < (options.epochs ?? 30); epoch++) {
      const order = n <= batchSize ? Array.from({ length: n }, (_, i) => i) : rng.permutation(n);
      for (let start = 0; start < n; start += batchSize) {
        const idx = order.slice(start, start + batchSize);
        if (idx.length < 2) continue; // a softmax over one item has no gradient
        const lossValue = tf.tidy(() => {
          const m = dims.map((_, l) => toTensor(masked, l, idx));
          const u = dims.map((_, l) => toTensor(unmasked, l, idx));
          const cost = optimizer.minimize(() => contrastiveEntropyLoss(heads, init, m, u, options), true, heads);
          return cost!.dataSync()[0];
        });
        losses.push(lossValue);
        options.onStep?.(step++, lossValue);
      }
    }
    return { dims, heads: heads.map((h) => h.dataSync().slice() as Float32Array), losses };
  } finally {
    heads.forEach((h) => h.dispose());
    init.forEach((t) => t.dispose());
    optimizer.dispose();
  }
}

/** Applies a trained head to one feature vector: z = f·W ([d] × [d, d'] → [d']), float64. */
export function applyHead(head: Float32Array, dIn: number, f: ArrayLike<number>): Float64Array {
  const dOut = head.length / dIn;
  const z = new Float64Array(dOut);
  for (let k = 0; k < dIn; k++) {
    const fk = f[k];
    if (fk === 0) continue;
    for (let j = 0; j < dOut; j++) z[j] += fk * head[k * dOut + j];
  }
  return z;
}

/**
 * The masked view: replaces round(rate·n) distinct positions (at least one when rate > 0 and
 * n > 0) chosen by a seeded shuffle with `maskId`. Returns a new array.
 */
export function maskTokens(ids: ArrayLike<number>, rate = 0.15, maskId = 0, seed = 0): number[] {
  const out = Array.from(ids);
  if (!(rate >= 0 && rate <= 1)) throw new Error(`mask rate ${rate} outside [0, 1]`);
  const count = out.length === 0 || rate === 0 ? 0 : Math.max(1, Math.round(rate * out.length));
  const positions = new OodRandom(seed).permutation(out.length).slice(0, count);
  for (const p of positions) out[p] = maskId;
  return out;
}
