import type * as tf from '@tensorflow/tfjs-core';
import { parseModelConfig, toHfConfig, type ModelConfig, type ModelFamily } from '../model-config.js';
import { initialWeights } from '../transformer-weights.js';

/** Sizes of a tiny test model; every field has a small default. */
export interface RandomCheckpointSizes {
  vocabSize?: number;
  dModel?: number;
  nLayers?: number;
  nHeads?: number;
  /** llama only; default nHeads / 2 (grouped-query attention). */
  nKvHeads?: number;
  dFf?: number;
  maxPositions?: number;
  tieWordEmbeddings?: boolean;
  ropeTheta?: number;
  eosTokenId?: number;
  /** Std of weight matrices (default 0.3, large enough that mistakes show in the logits). */
  std?: number;
}

/** A tiny random checkpoint in Hugging Face form, as a checkpoint loader would return it. */
export interface RandomCheckpoint {
  /** The config.json object. */
  config: Record<string, unknown>;
  /** HF-named weights in HF layout; the caller owns (and disposes) them. */
  weights: Map<string, tf.Tensor>;
  /** The parsed config, for convenience. */
  modelConfig: ModelConfig;
}

/**
 * Builds a seeded random checkpoint (norm gains and biases jittered too, so every parameter matters).
 * Defaults: vocab 37, d 16, 2 layers, 4 heads (llama: 2 kv heads), dFf 24 (gpt2: 4·d),
 * 64 positions; gpt2 tied, llama untied.
 */
export function randomCheckpoint(family: ModelFamily, sizes: RandomCheckpointSizes = {}, seed = 1): RandomCheckpoint {
  const dModel = sizes.dModel ?? 16;
  const nHeads = sizes.nHeads ?? 4;
  const modelConfig: ModelConfig = parseModelConfig(
    toHfConfig({
      family,
      vocabSize: sizes.vocabSize ?? 37,
      dModel,
      nLayers: sizes.nLayers ?? 2,
      nHeads,
      nKvHeads: family === 'gpt2' ? nHeads : (sizes.nKvHeads ?? Math.max(1, nHeads / 2)),
      headDim: dModel / nHeads,
      dFf: sizes.dFf ?? (family === 'gpt2' ? 4 * dModel : 24),
      maxPositions: sizes.maxPositions ?? 64,
      normEps: 1e-5,
      ropeTheta: sizes.ropeTheta ?? 10000,
      tieWordEmbeddings: sizes.tieWordEmbeddings ?? family === 'gpt2',
      eosTokenId: sizes.eosTokenId,
    }),
  );
  const weights = initialWeights(modelConfig, { seed, std: sizes.std ?? 0.3, jitter: 0.1 });
  return { config: toHfConfig(modelConfig), weights, modelConfig };
}
