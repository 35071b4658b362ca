import * as tf from '@tensorflow/tfjs-core';
import type { LoraAdapter, LoraModuleWeights } from '../../engine/lora-types.js';
import type { GeneratorSample } from '../generator.js';
import { SeededRandom } from '../random.js';

export interface ToyTaskSet {
  samples: GeneratorSample[];
  /** Per task: the mean checkpoint's flat values in layout order (A then B per module, sorted). */
  conditions: Float32Array[];
  tasks: number;
}

/**
 * A toy set of task checkpoints like LoRA training produces: every task starts from the same A
 * (one seed), learns its own B, and its checkpoints scatter a little around the task's point.
 */
export function toyTaskSet(o: { tasks?: number; checkpoints?: number; dModel?: number; layers?: number; condDim?: number; seed?: number } = {}): ToyTaskSet {
  const { tasks = 2, checkpoints = 6, dModel = 32, layers = 2, condDim = 24, seed = 11 } = o;
  const rank = 4;
  const rng = new SeededRandom(seed);
  const names = Array.from({ length: layers }, (_, l) => ['q_proj', 'v_proj'].map((t) => `model.layers.${l}.self_attn.${t}`)).flat();
  const sharedA = names.map(() => rng.uniforms(rank * dModel, -0.2, 0.2));
  const taskB = Array.from({ length: tasks }, () => names.map(() => rng.normals(dModel * rank).map((v) => 0.05 * v)));
  const conditions = Array.from({ length: tasks }, () => rng.normals(condDim));
  const samples: GeneratorSample[] = [];
  for (let t = 0; t < tasks; t++) {
    for (let c = 0; c < checkpoints; c++) {
      const modules = new Map<string, LoraModuleWeights>();
      names.forEach((name, m) => {
        const a = sharedA[m].map((v) => v + 0.002 * rng.normal());
        const b = taskB[t][m].map((v) => v + 0.004 * rng.normal());
        modules.set(name, { a: tf.tensor2d(a, [rank, dModel]), b: tf.tensor2d(b, [dModel, rank]) });
      });
      const adapter: LoraAdapter = { rank, alpha: 8, targetModules: ['q_proj', 'v_proj'], modules };
      samples.push({ adapter, condition: conditions[t].map((v) => v + 0.05 * rng.normal()) });
    }
  }
  return { samples, conditions, tasks };
}
