/**
 * Task vectors for the basis generator (issue 15): what the base model's hidden states say about a
 * task's in-context examples, and nothing else (no task name, no description). ICM-LoRA's own
 * condition is the last layer's state at the final position (`taskCondition`); that position sees
 * the end of the answer, so it says little about which question was asked or which fact answered.
 * This vector pools the prompt tokens and the completion tokens separately at chosen layers: the
 * prompt part carries the asked fact type, the completion part the answered fact and the template.
 */
import { promptFeaturesAll } from '../engine/features.js';
import type { TransformerModel } from '../engine/transformer.js';
import type { TaskExample } from './task-suite.js';
import type { TaskTokenizer } from './task-training.js';

/** Which pooled states make up the vector; `final` = the ICM-LoRA condition (last layer, final position). */
export type TaskVectorPart = 'prompt' | 'completion' | 'final';

export interface TaskVectorSpec {
  /** Hidden-state depths as fractions of the model's layers: layer max(1, round(f · nLayers)) (1 = after the first block, nLayers = after the final norm). */
  depths: number[];
  parts: TaskVectorPart[];
}

/** The middle and the last layer (layers 2 and 4 of the demo model). */
export const DEFAULT_TASK_VECTOR: Readonly<TaskVectorSpec> = Object.freeze({ depths: [0.5, 1], parts: ['prompt', 'completion'] as TaskVectorPart[] });

/** Length of the vector a spec gives on a model of width dModel. */
export function taskVectorLength(spec: TaskVectorSpec, dModel: number): number {
  const perLayer = spec.parts.filter((p) => p !== 'final').length;
  return dModel * (perLayer * spec.depths.length + (spec.parts.includes('final') ? 1 : 0));
}

/**
 * The task vector of in-context examples: per example, each part's mean hidden state at each layer,
 * scaled to unit length and concatenated; averaged over examples. The prompt's states are the same
 * in the prompt-only pass and the full pass (causal attention), so the completion's mean follows
 * from the two pooled means.
 */
export function taskVector(model: TransformerModel, tokenizer: TaskTokenizer, examples: readonly TaskExample[], spec: TaskVectorSpec = DEFAULT_TASK_VECTOR): Float32Array {
  if (examples.length === 0) throw new Error('a task vector needs at least one example');
  const { nLayers, dModel } = model.config;
  for (const f of spec.depths) if (!(f > 0 && f <= 1)) throw new Error(`task vector depth ${f} is not in (0, 1]`);
  const layers = spec.depths.map((f) => Math.max(1, Math.round(f * nLayers)));
  const out = new Float32Array(taskVectorLength(spec, dModel));
  for (const e of examples) {
    const full = tokenizer.encode(e.prompt + e.completion);
    const prompt = tokenizer.encode(e.prompt);
    if (full.length <= prompt.length) throw new Error('an example completion must add at least one token');
    // One sequence per pass: no padding, so positions and pooled means are exact.
    const f = promptFeaturesAll(model, [full], { batchSize: 1 });
    const p = promptFeaturesAll(model, [prompt], { batchSize: 1 });
    let at = 0;
    const put = (v: ArrayLike<number>) => {
      let norm = 0;
      for (let i = 0; i < dModel; i++) norm += v[i] * v[i];
      const s = 1 / (Math.sqrt(norm) || 1) / examples.length;
      for (let i = 0; i < dModel; i++) out[at + i] += v[i] * s;
      at += dModel;
    };
    for (const l of layers) {
      for (const part of spec.parts) {
        if (part === 'prompt') put(p.pooled[l][0]);
        else if (part === 'completion') {
          const nf = full.length;
          const np = prompt.length;
          put(f.pooled[l][0].map((v, i) => (nf * v - np * p.pooled[l][0][i]) / (nf - np)));
        }
      }
    }
    if (spec.parts.includes('final')) put(f.last[0]);
  }
  return out;
}
