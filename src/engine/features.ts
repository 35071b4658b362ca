import * as tf from '@tensorflow/tfjs-core';
import { disposeRowPrefill, splitPrefill, type RowPrefill } from './generate-prefill.js';
import { KvCache } from './kv-cache.js';
import type { LoraApplication } from './lora-application.js';
import { leftPadBatch, type TransformerModel } from './transformer.js';

export interface FeatureOptions {
  lora?: LoraApplication;
  /** Prompts per forward pass (default 16). */
  batchSize?: number;
  /**
   * Also keep each prompt's prefill (KV cache and last logits) so generation can continue from
   * this pass instead of prefilling again (`generate` option `prefilled`, via joinPrefill).
   */
  keepPrefill?: boolean;
  /**
   * Compute the masked-mean pooled states (default true). Routing reads only the final-token states,
   * so it skips the pooling ops and their read-back (`pooled` is then empty).
   */
  pooled?: boolean;
}

/** Per-prompt features from one prefill pass. */
export interface PromptFeatures {
  /**
   * Hidden states masked-mean-pooled over each prompt's real tokens: [layers+1][prompt] →
   * Float32Array(dModel). Index 0 is the embeddings, the last is after the final norm (HF order).
   */
  pooled: Float32Array[][];
  /** Last layer's hidden state (after the final norm) at each prompt's final token: [prompt] → Float32Array(dModel). */
  last: Float32Array[];
  /**
   * Every layer's hidden state at each prompt's final token: [layers+1][prompt] → Float32Array(dModel)
   * (HF order, as `pooled`). What the unlearning detectors score (src/unlearning/detector-features.ts).
   */
  finalToken: Float32Array[][];
  /** With `keepPrefill`: [prompt] → its prefill (the caller owns and frees it: disposeRowPrefill). */
  prefill?: RowPrefill[];
}

/** Runs the prefill for tokenized prompts and returns pooled per-layer features and last-token states. */
export function promptFeaturesAll(model: TransformerModel, tokenIds: number[][], options: FeatureOptions = {}): PromptFeatures {
  const { nLayers } = model.config;
  const pooled: Float32Array[][] = Array.from({ length: nLayers + 1 }, () => []);
  const last: Float32Array[] = [];
  const finalToken: Float32Array[][] = Array.from({ length: nLayers + 1 }, () => []);
  const size = options.batchSize ?? 16;
  const prefill: RowPrefill[] = [];
  try {
    runChunks(model, tokenIds, options, size, pooled, last, finalToken, prefill);
  } catch (error) {
    prefill.forEach(disposeRowPrefill); // kept rows of earlier chunks
    throw error;
  }
  return { pooled, last, finalToken, ...(options.keepPrefill && { prefill }) };
}

/** The chunked prefills of promptFeaturesAll, appending to its arrays. */
function runChunks(
  model: TransformerModel,
  tokenIds: number[][],
  options: FeatureOptions,
  size: number,
  pooled: Float32Array[][],
  last: Float32Array[],
  finalToken: Float32Array[][],
  prefill: RowPrefill[],
): void {
  const { nLayers, dModel } = model.config;
  for (let start = 0; start < tokenIds.length; start += size) {
    const chunk = tokenIds.slice(start, start + size);
    const batch = leftPadBatch(chunk, model.config.padTokenId ?? 0);
    const cache = options.keepPrefill ? new KvCache() : undefined;
    const withPooled = options.pooled !== false;
    // Without pooling only final positions are read: the last layer need not run the others.
    const out = model.forward(batch, { cache, lora: options.lora, logits: cache ? 'last' : 'none', hiddenStates: true, finalOnly: !withPooled });
    if (cache) {
      try {
        const logits = out.logits!.dataSync() as Float32Array;
        prefill.push(
          ...splitPrefill(
            cache,
            chunk.map((t) => t.length),
            logits,
            model.config.vocabSize,
          ),
        );
      } finally {
        out.logits!.dispose();
        cache.dispose();
      }
    }
    const [layerData, finalData] = tf.tidy(() => {
      // Stack the layers' pooled vectors, [layers+1, b, d], to read them back in one transfer.
      let means: Float32Array | undefined;
      if (withPooled) {
        const mask = tf.expandDims(batch.attentionMask, 2); // [b, s, 1]
        const count = tf.sum(mask, 1); // [b, 1]
        means = tf.stack(out.hiddenStates!.map((h) => tf.div(tf.sum(tf.mul(h, mask), 1), count))).dataSync() as Float32Array;
      }
      // Left padding puts every prompt's final token in the last column: [layers+1, b, d]. The
      // last layer's row is also `last` (the condition vector), so it is read back once.
      const finals = tf.stack(out.hiddenStates!.map((h) => tf.reshape(tf.slice(h, [0, h.shape[1] - 1, 0], [chunk.length, 1, dModel]), [chunk.length, dModel])));
      return [means, finals.dataSync() as Float32Array] as const;
    });
    tf.dispose([batch.tokenIds, batch.attentionMask, ...out.hiddenStates!]);
    for (let l = 0; l <= nLayers; l++) {
      for (let r = 0; r < chunk.length; r++) {
        const off = (l * chunk.length + r) * dModel;
        if (layerData) pooled[l].push(layerData.slice(off, off + dModel));
        finalToken[l].push(finalData.slice(off, off + dModel));
      }
    }
    for (let r = 0; r < chunk.length; r++) last.push(finalToken[nLayers][finalToken[nLayers].length - chunk.length + r].slice());
  }
}

/**
 * OOD features (DESIGN §3.2): per layer (embeddings, each block, final norm), each prompt's hidden
 * states mean-pooled over its real tokens. Returns [layers+1][prompt] → Float32Array(dModel).
 */
export function promptFeatures(model: TransformerModel, tokenIds: number[][], options: FeatureOptions = {}): Float32Array[][] {
  return promptFeaturesAll(model, tokenIds, options).pooled;
}

/**
 * ICM-LoRA condition vector (DESIGN §4): the last layer's hidden state at each example's final
 * position, averaged over the examples. Returns Float32Array(dModel).
 */
export function conditionVector(model: TransformerModel, examples: number[][], options: FeatureOptions = {}): Float32Array {
  if (examples.length === 0) throw new Error('conditionVector needs at least one example');
  const { last } = promptFeaturesAll(model, examples, options);
  const out = new Float32Array(model.config.dModel);
  for (const v of last) for (let i = 0; i < out.length; i++) out[i] += v[i] / last.length;
  return out;
}
