/**
 * Registers tfjs-core's gradients when running under plain Node (tsx). The CJS bundle Node loads for
 * '@tensorflow/tfjs-core' ships no gradient configs; they exist only in the ESM dist, whose
 * extension-less and directory imports Node's ESM resolver rejects. A resolve hook retries those
 * with `.js` and `/index.js`; the registrations land in tfjs's global registry, shared by both copies.
 */
import { register } from 'node:module';

const hook = `
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

register(`data:text/javascript,${encodeURIComponent(hook)}`);
await import('@tensorflow/tfjs-core/dist/register_all_gradients.js' as string);
