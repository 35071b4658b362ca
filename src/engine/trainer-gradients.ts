/**
 * Registers tfjs-core's gradient functions, which the core package only registers on request.
 * Under vite/vitest the ESM entry imports directly; under plain Node, the CJS bundle Node loads
 * for '@tensorflow/tfjs-core' ships no gradients and the ESM dist uses extension-less imports
 * Node's resolver rejects, so a resolve hook (scoped to tfjs-core's dist) retries them with `.js`
 * and `/index.js`. Registrations land in tfjs's global registry, shared by both copies.
 */
import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';

const HOOK = `
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (error) {
    const inTfjs = context.parentURL && context.parentURL.includes('/@tensorflow/tfjs-core/dist/');
    if (!inTfjs || !specifier.startsWith('.')) throw error;
    for (const suffix of ['.js', '/index.js']) {
      try { return await next(specifier + suffix, context); } catch {}
    }
    throw error;
  }
}`;

let ready: Promise<void> | undefined;

/** Makes sure tf.grad / tf.variableGrads work (idempotent, safe to call before every training run). */
export function ensureGradients(): Promise<void> {
  ready ??= load();
  return ready;
}

async function load(): Promise<void> {
  if (tf.getGradient(tf.RealDiv) !== undefined) return;
  register(`data:text/javascript,${encodeURIComponent(HOOK)}`);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js' as string);
}
