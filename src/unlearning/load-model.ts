/** Loads a checkpoint folder into a frozen TransformerModel and its tokenizer. */
import * as tf from '@tensorflow/tfjs-core';
import { loadCheckpoint } from '../engine/checkpoint.js';
import { parseModelConfig } from '../engine/model-config.js';
import type { TextTokenizer } from '../engine/tokenizer.js';
import { TransformerModel } from '../engine/transformer.js';

export interface LoadedModel {
  model: TransformerModel;
  tokenizer: TextTokenizer;
  dispose(): void;
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  const ckpt = await loadCheckpoint(dir);
  try {
    const model = TransformerModel.create(parseModelConfig(ckpt.config), ckpt.weights);
    return { model, tokenizer: ckpt.tokenizer, dispose: () => model.dispose() };
  } finally {
    tf.dispose([...ckpt.weights.values()]);
  }
}
