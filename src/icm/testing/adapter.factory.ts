import * as tf from '@tensorflow/tfjs-core';
import type { LoraAdapter, LoraModuleWeights } from '../../engine/lora-types.js';
import { SeededRandom } from '../random.js';

export interface AdapterFactoryOptions {
  layers: number;
  targets: string[];
  dModel: number;
  rank: number;
  alpha: number;
  seed: number;
  /** Fill B with zeros (as at initialisation). */
  zeroB: boolean;
}

/** Test adapters with full defaults (CONVENTIONS §10): LLaMA-style module names, random factors. */
export const AdapterFactory = {
  create(overrides: Partial<AdapterFactoryOptions> = {}): LoraAdapter {
    const o: AdapterFactoryOptions = {
      layers: 2,
      targets: ['q_proj', 'v_proj'],
      dModel: 16,
      rank: 4,
      alpha: 8,
      seed: 1,
      zeroB: false,
      ...overrides,
    };
    const rng = new SeededRandom(o.seed);
    const modules = new Map<string, LoraModuleWeights>();
    for (let layer = 0; layer < o.layers; layer++) {
      for (const target of o.targets) {
        const a = tf.tensor2d(rng.uniforms(o.rank * o.dModel, -0.3, 0.5), [o.rank, o.dModel]);
        const bValues = o.zeroB ? new Float32Array(o.dModel * o.rank) : rng.normals(o.dModel * o.rank).map((v) => 0.02 * v - 0.01);
        modules.set(`model.layers.${layer}.self_attn.${target}`, { a, b: tf.tensor2d(bValues, [o.dModel, o.rank]) });
      }
    }
    return { rank: o.rank, alpha: o.alpha, targetModules: [...o.targets], modules };
  },

  dispose(adapter: LoraAdapter): void {
    for (const { a, b } of adapter.modules.values()) {
      a.dispose();
      b.dispose();
    }
  },
};
