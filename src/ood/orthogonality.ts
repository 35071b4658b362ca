/**
 * O-LoRA orthogonality penalty (DESIGN §3.1):
 *   L_orth = mean over layers of Σ_modules Σ_{k active} ‖A_k A_tᵀ‖²_F,
 * A = PEFT's input-side factor [r, dIn]. Earlier adapters are frozen constants; the penalty is
 * differentiable w.r.t. the new adapter's A_t only. The A_k of one module are stacked once into a
 * [Σr_k, dIn] constant, so ‖stack·A_tᵀ‖² = Σ_k ‖A_k A_tᵀ‖² costs one matmul per module.
 * Gradients must be registered by the caller (the engine trainer does).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LoraAdapter } from '../engine/lora-types.js';

/** Stacked input factors of the frozen (earlier, active) adapters, keyed by module name. */
export interface FrozenFactors {
  /** module → [Σ_k r_k, dIn] */
  byModule: Map<string, tf.Tensor2D>;
  dispose(): void;
}

/** Stacks the A factors of earlier adapters per module (call once per training job). */
export function stackFrozenFactors(frozen: readonly LoraAdapter[]): FrozenFactors {
  const parts = new Map<string, tf.Tensor2D[]>();
  for (const adapter of frozen) {
    for (const [name, weights] of adapter.modules) {
      const list = parts.get(name) ?? [];
      list.push(weights.a);
      parts.set(name, list);
    }
  }
  const byModule = new Map<string, tf.Tensor2D>();
  for (const [name, list] of parts) {
    const dIn = list[0].shape[1];
    for (const a of list) {
      if (a.shape[1] !== dIn) throw new Error(`module ${name}: A factors disagree on dIn (${a.shape[1]} vs ${dIn})`);
    }
    byModule.set(name, tf.keep(tf.concat(list, 0)));
  }
  return { byModule, dispose: () => byModule.forEach((t) => t.dispose()) };
}

/** The transformer layer index in a module name (`model.layers.3.mlp.up_proj` → 3), or −1. */
export function layerIndexOf(moduleName: string): number {
  const m = /(?:^|\.)(\d+)(?:\.|$)/.exec(moduleName);
  return m ? Number(m[1]) : -1;
}

/**
 * L_orth for the new adapter's input factors (module → A_t [r, dIn], trainable) against the frozen
 * stack. Modules no earlier adapter touches contribute 0; the mean runs over the layers the new
 * adapter adapts. Returns a scalar (0 without earlier adapters).
 */
export function orthogonalityLoss(currentA: ReadonlyMap<string, tf.Tensor2D>, frozen: FrozenFactors): tf.Scalar {
  return tf.tidy(() => {
    const layers = new Set<number>();
    let total: tf.Tensor = tf.scalar(0);
    for (const [name, a] of currentA) {
      layers.add(layerIndexOf(name));
      const stack = frozen.byModule.get(name);
      if (!stack) continue;
      if (stack.shape[1] !== a.shape[1]) throw new Error(`module ${name}: dIn ${a.shape[1]} != frozen ${stack.shape[1]}`);
      total = tf.add(total, tf.sum(tf.square(tf.matMul(stack, a, false, true)))); // [Σr_k, r]
    }
    return tf.div(total, Math.max(1, layers.size)) as tf.Scalar;
  });
}
