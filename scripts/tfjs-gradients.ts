/**
 * Side-effect import for scripts run under plain Node (tsx): registers tfjs-core's gradients.
 * The work is done by the engine's `ensureGradients()` (src/engine/gradients.ts).
 */
import { ensureGradients } from '../src/engine/gradients.js';

await ensureGradients();
