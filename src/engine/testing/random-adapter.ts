import * as tf from '@tensorflow/tfjs-core';
import { targetLinearModules } from '../lora.js';
import type { LoraAdapter, LoraModuleWeights } from '../lora-types.js';
import type { ModelConfig } from '../model-config.js';
import { gaussian, seededRandom } from '../transformer-weights.js';

export interface RandomAdapterOptions {
  rank?: number;
  alpha?: number;
  /** PEFT short names; default all attention and MLP projections. */
  targetModules?: string[];
  /** Std of A and B entries (default 0.2; B is non-zero so the adapter changes the output). */
  std?: number;
}

/** A seeded random LoRA adapter for a model config, in PEFT layout (A [r, dIn], B [dOut, r]). */
export function randomAdapter(config: ModelConfig, options: RandomAdapterOptions = {}, seed = 1): LoraAdapter {
  const rank = options.rank ?? 4;
  const rand = seededRandom(seed);
  const std = options.std ?? 0.2;
  const modules = new Map<string, LoraModuleWeights>();
  const targets = targetLinearModules(config, options.targetModules);
  for (const m of targets) {
    modules.set(m.name, {
      a: tf.tensor2d(gaussian(rand, rank * m.dIn, std), [rank, m.dIn]),
      b: tf.tensor2d(gaussian(rand, m.dOut * rank, std), [m.dOut, rank]),
    });
  }
  return { rank, alpha: options.alpha ?? 2 * rank, targetModules: [...new Set(targets.map((m) => m.short))], modules };
}
