import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients } from '../engine/gradients.js';
import type { Cvae } from './cvae.js';
import { SeededRandom } from './random.js';

/** Training set: flat (normalised, padded) vectors and their condition vectors, row-aligned. */
export interface CvaeDataset {
  /** [n][inputLength] */
  x: Float32Array[];
  /** [n][condDim] */
  cond: Float32Array[];
}

export interface CvaeProgress {
  epoch: number;
  epochs: number;
  /** Means over the epoch's batches. */
  loss: number;
  mse: number;
  kl: number;
}

export interface CvaeTrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Seeds batch order and reparameterisation noise. */
  seed: number;
  /** Called after every epoch. */
  onProgress?: (progress: CvaeProgress) => void;
  /** Checked before every step; training stops by throwing the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Trains a CVAE in place with Adam. Deterministic for a given model seed and options on one
 * backend. Yields to the event loop between steps so that a caller can abort.
 */
export async function trainCvae(model: Cvae, data: CvaeDataset, options: CvaeTrainOptions): Promise<CvaeProgress[]> {
  const n = data.x.length;
  if (n === 0 || n !== data.cond.length) throw new Error('dataset needs as many conditions as vectors, at least one');
  const { inputLength, condDim, latentDim } = model.config;
  for (const v of data.x) if (v.length !== inputLength) throw new Error(`vector of length ${v.length}, expected ${inputLength}`);
  for (const c of data.cond) if (c.length !== condDim) throw new Error(`condition of length ${c.length}, expected ${condDim}`);
  await ensureGradients(); // plain Node does not register tfjs gradients on its own
  const rng = new SeededRandom(options.seed);
  const optimizer = tf.train.adam(options.learningRate);
  const xAll = tf.tensor2d(concat(data.x), [n, inputLength]); // [n, inputLength]
  const condAll = tf.tensor2d(concat(data.cond), [n, condDim]); // [n, condDim]
  const history: CvaeProgress[] = [];
  const batchSize = Math.min(options.batchSize, n);
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const order = rng.permutation(n);
      const sums = { loss: 0, mse: 0, kl: 0, steps: 0 };
      // BatchNorm pools over batch and length, so even a last batch of one sample is fine.
      for (let start = 0; start < n; start += batchSize) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        options.signal?.throwIfAborted();
        const idx = order.slice(start, start + batchSize);
        const eps = tf.tensor2d(rng.normals(idx.length * latentDim), [idx.length, latentDim]);
        const parts = tf.tidy(() => {
          const indices = tf.tensor1d(idx, 'int32');
          const x = tf.gather(xAll, indices) as tf.Tensor2D;
          const cond = tf.gather(condAll, indices) as tf.Tensor2D;
          let mse: tf.Scalar | undefined;
          let kl: tf.Scalar | undefined;
          const loss = optimizer.minimize(
            () => {
              const l = model.losses(x, cond, eps, true);
              mse = tf.keep(l.mse);
              kl = tf.keep(l.kl);
              return l.loss;
            },
            true,
            model.trainableVariables(),
          )!;
          return [loss, mse!, kl!];
        });
        eps.dispose();
        const [loss, mse, kl] = parts.map((t) => {
          const v = t.dataSync()[0];
          t.dispose();
          return v;
        });
        if (!Number.isFinite(loss)) throw new Error(`CVAE loss is not finite at epoch ${epoch}`);
        sums.loss += loss;
        sums.mse += mse;
        sums.kl += kl;
        sums.steps++;
      }
      const progress = {
        epoch,
        epochs: options.epochs,
        loss: sums.loss / sums.steps,
        mse: sums.mse / sums.steps,
        kl: sums.kl / sums.steps,
      };
      history.push(progress);
      options.onProgress?.(progress);
    }
  } finally {
    xAll.dispose();
    condAll.dispose();
    optimizer.dispose();
  }
  return history;
}

function concat(rows: Float32Array[]): Float32Array {
  const out = new Float32Array(rows.reduce((s, r) => s + r.length, 0));
  let at = 0;
  for (const r of rows) {
    out.set(r, at);
    at += r.length;
  }
  return out;
}
