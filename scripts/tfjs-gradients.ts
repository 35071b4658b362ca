/**
 * Side-effect import for scripts: registers tfjs-core's gradients through the engine's
 * `ensureGradients()` (src/engine/gradients.ts, which loads the union package @tensorflow/tfjs).
 */
import { ensureGradients } from '../src/engine/gradients.js';

await ensureGradients();
