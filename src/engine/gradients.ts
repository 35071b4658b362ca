/**
 * tfjs gradient registration for every training entry point (the trainer, worker threads, scripts).
 * tfjs-core registers no gradients on its own; the union package `@tensorflow/tfjs` (the same
 * version as tfjs-core, and the package `@tensorflow/tfjs-node(-gpu)` build on) registers all of
 * them when it loads, in tfjs's global registry that every copy of tfjs-core reads. It is loaded on
 * the first call, not at import, so processes that only serve never pay for it (about 0.3 s and
 * the layers/converter bundles). A worker thread starts with a fresh module graph, so it calls
 * `ensureGradients()` itself.
 */
import * as tf from '@tensorflow/tfjs-core';

let ready: Promise<void> | undefined;

/** Makes sure tf.grad / tf.variableGrads work (idempotent, safe to call before every training run). */
export function ensureGradients(): Promise<void> {
  ready ??= load();
  return ready;
}

async function load(): Promise<void> {
  if (tf.getGradient(tf.RealDiv) !== undefined) return;
  await import('@tensorflow/tfjs');
  // A different tfjs-core version under the union package would register into its own registry.
  if (tf.getGradient(tf.RealDiv) === undefined) {
    throw new Error('@tensorflow/tfjs registered no gradients visible to @tensorflow/tfjs-core: install both at the same version');
  }
}
