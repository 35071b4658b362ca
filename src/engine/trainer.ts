/**
 * A generic trainer: only the given `tf.Variable`s train (frozen weights are plain tensors the
 * loss closure captures), AdamW with bias correction, global-norm clipping, seeded batch order,
 * progress events, cancellation through an AbortSignal. No tensors leak per step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients } from './gradients.js';
import { AdamW, clipByGlobalNorm, type AdamWOptions } from './trainer-optim.js';

export { AdamW, clipByGlobalNorm, globalNorm, warmupCosineSchedule, type AdamWOptions } from './trainer-optim.js';
export { ensureGradients } from './gradients.js';
export { buildLmBatch, maskedCrossEntropy, type LmBatch, type LmExample } from './trainer-loss.js';

export interface TrainProgress {
  /** 1-based step just finished. */
  step: number;
  totalSteps: number;
  /** Loss of this step (before the update). */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  learningRate: number;
  etaSeconds: number;
  /** When `countTokens` is given: tokens processed per second so far. */
  tokensPerSecond?: number;
}

export interface TrainOptions<T> {
  /** The trainable parameters; everything else the loss uses stays frozen. */
  variables: tf.Variable[];
  /** Training examples; each step takes `batchSize` of them in a seeded shuffled order. */
  examples: readonly T[];
  /** Builds the scalar loss of a batch. Runs inside a gradient tape; its intermediates are freed. */
  loss: (batch: T[], step: number) => tf.Scalar;
  batchSize: number;
  /** Total optimizer steps; epochs reshuffle with the same PRNG stream. */
  steps: number;
  optimizer: AdamWOptions;
  /** Clip the global gradient norm to this value (default: no clipping). */
  maxGradNorm?: number;
  /** Seed for the batch order (default 0). */
  seed?: number;
  /** Keep the last partial batch of an epoch (default true). */
  keepPartialBatch?: boolean;
  onProgress?: (progress: TrainProgress) => void;
  signal?: AbortSignal;
  /** Tokens in a batch, for tokensPerSecond. */
  countTokens?: (batch: T[]) => number;
  /** Yield to the event loop every this many steps so timers/aborts run (default 1; 0 never). */
  yieldEvery?: number;
}

export interface TrainResult {
  /** `cancelled`: the signal fired; the variables hold the state after `steps` complete updates. */
  status: 'completed' | 'cancelled';
  steps: number;
  losses: number[];
  seconds: number;
}

/**
 * Runs `steps` AdamW updates on `variables`. Cancellation is checked between steps, so an update
 * is applied entirely or not at all.
 */
export async function train<T>(options: TrainOptions<T>): Promise<TrainResult> {
  const { variables, examples, batchSize, steps } = options;
  if (variables.length === 0) throw new Error('train: no trainable variables');
  if (examples.length === 0) throw new Error('train: no examples');
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`train: batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(steps) || steps < 0) throw new Error(`train: steps must be a non-negative integer, got ${steps}`);
  await ensureGradients();
  const order = batchOrder(examples.length, batchSize, options.seed ?? 0, options.keepPartialBatch ?? true);
  const optimizer = new AdamW(variables, options.optimizer);
  const losses: number[] = [];
  const start = performance.now();
  let tokens = 0;
  try {
    for (let step = 1; step <= steps; step++) {
      if (options.signal?.aborted) return { status: 'cancelled', steps: step - 1, losses, seconds: elapsed(start) };
      const batch = order.next().map((i) => examples[i]);
      const { value, grads } = tf.variableGrads(() => options.loss(batch, step), variables);
      const raw = variables.map((v) => grads[v.name] ?? null);
      const present = raw.filter((g): g is tf.Tensor => g !== null);
      const clipped = clipByGlobalNorm(present, options.maxGradNorm ?? Infinity);
      let k = 0;
      const learningRate = optimizer.learningRateAt();
      optimizer.apply(raw.map((g) => (g ? clipped.grads[k++] : null)));
      const loss = value.dataSync()[0];
      tf.dispose([value, ...present, ...clipped.grads]);
      losses.push(loss);
      if (options.countTokens) tokens += options.countTokens(batch);
      const seconds = elapsed(start);
      options.onProgress?.({
        step,
        totalSteps: steps,
        loss,
        gradNorm: clipped.norm,
        learningRate,
        etaSeconds: (seconds / step) * (steps - step),
        tokensPerSecond: options.countTokens ? tokens / Math.max(seconds, 1e-9) : undefined,
      });
      const every = options.yieldEvery ?? 1;
      if (every > 0 && step % every === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    return { status: 'completed', steps, losses, seconds: elapsed(start) };
  } finally {
    optimizer.dispose();
  }
}

/** Seeded PRNG (mulberry32): uniform floats in [0, 1). */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Endless batches of indices: each epoch a Fisher–Yates shuffle from one seeded stream. */
function batchOrder(n: number, batchSize: number, seed: number, keepPartial: boolean): { next(): number[] } {
  const rng = createRng(seed);
  let epoch: number[][] = [];
  return {
    next() {
      if (epoch.length === 0) {
        const idx = Array.from({ length: n }, (_, i) => i);
        for (let i = n - 1; i > 0; i--) {
          const j = Math.floor(rng() * (i + 1));
          [idx[i], idx[j]] = [idx[j], idx[i]];
        }
        for (let i = 0; i < n; i += batchSize) {
          const b = idx.slice(i, i + batchSize);
          if (b.length === batchSize || keepPartial || n < batchSize) epoch.push(b);
        }
        epoch.reverse(); // pop() from the end keeps the shuffled order
      }
      return epoch.pop()!;
    },
  };
}

function elapsed(start: number): number {
  return (performance.now() - start) / 1000;
}
