import * as tf from '@tensorflow/tfjs-core';
import { KvCache, type LayerKv } from './kv-cache.js';
import type { LoraApplication } from './lora-application.js';
import { leftPadBatch, type TransformerModel } from './transformer.js';

/**
 * One prompt's prefill without padding: what generation needs to continue from it instead of
 * running the prompt through the model again (the base prefill the router already ran for the
 * detectors' features, DESIGN §3.2-3.3). Owns its tensors: free with {@link disposeRowPrefill}.
 */
export interface RowPrefill {
  /** Prompt tokens cached. */
  length: number;
  /** Per layer: keysT [1, kvHeads, headDim, length], values [1, kvHeads, length, headDim]. */
  layers: LayerKv[];
  /** Logits at the prompt's last position: Float32Array(vocab). */
  lastLogits: Float32Array;
}

/**
 * A batch prefill handed to `generate` (option `prefilled`): the KV cache over the left-padded
 * prompts (batch = prompts, mask 0 on padding) and each row's last-position logits. generate takes
 * ownership of the cache and frees it when it returns or throws.
 */
export interface PrefilledState {
  cache: KvCache;
  /** [row] → Float32Array(vocab) */
  lastLogits: Float32Array[];
}

export function disposeRowPrefill(row: RowPrefill): void {
  for (const l of row.layers) tf.dispose([l.keysT, l.values]);
}

/** Bytes of a row prefill's tensors. */
export function rowPrefillBytes(row: RowPrefill): number {
  let n = row.lastLogits.byteLength;
  for (const l of row.layers) n += 4 * (l.keysT.size + l.values.size);
  return n;
}

/**
 * Cuts a prefilled cache of left-padded rows into unpadded per-row prefills. `lengths[r]` is row
 * r's prompt length; `logits` is [batch·vocab] (each row's last position). Does not free `cache`.
 */
export function splitPrefill(cache: KvCache, lengths: number[], logits: Float32Array, vocab: number): RowPrefill[] {
  const b = lengths.length;
  if (cache.batch !== b) throw new Error(`cache batch ${cache.batch} differs from ${b} prompt lengths`);
  const width = cache.length;
  const layers: LayerKv[] = [];
  for (let i = 0; cache.layer(i); i++) layers.push(cache.layer(i)!);
  return lengths.map((len, r) => {
    if (len < 1 || len > width) throw new Error(`prompt length ${len} does not fit the cache width ${width}`);
    const rowLayers = layers.map(({ keysT, values }) => {
      // A lone unpadded row shares the cache's data (clone is a reference, not a copy).
      if (b === 1 && len === width) return { keysT: tf.clone(keysT), values: tf.clone(values) };
      const [, kvHeads, headDim] = keysT.shape;
      return {
        keysT: tf.slice(keysT, [r, 0, 0, width - len], [1, kvHeads, headDim, len]) as tf.Tensor4D,
        values: tf.slice(values, [r, 0, width - len, 0], [1, kvHeads, len, headDim]) as tf.Tensor4D,
      };
    });
    return { length: len, layers: rowLayers, lastLogits: logits.slice(r * vocab, (r + 1) * vocab) };
  });
}

/**
 * Left-pads row prefills to one batch (zero keys/values under mask 0, so padding never reaches a
 * real token, as with left-padded prompts) and returns the state generate continues from. Does not
 * free the rows.
 */
export function joinPrefill(rows: RowPrefill[]): PrefilledState {
  if (rows.length === 0) throw new Error('joinPrefill needs at least one row');
  const width = Math.max(...rows.map((r) => r.length));
  const nLayers = rows[0].layers.length;
  const layers: LayerKv[] = [];
  for (let i = 0; i < nLayers; i++) {
    layers.push(
      tf.tidy(() => {
        const keys = rows.map((r) => (r.length === width ? r.layers[i].keysT : tf.pad(r.layers[i].keysT, [[0, 0], [0, 0], [0, 0], [width - r.length, 0]])));
        const vals = rows.map((r) => (r.length === width ? r.layers[i].values : tf.pad(r.layers[i].values, [[0, 0], [0, 0], [width - r.length, 0], [0, 0]])));
        return {
          keysT: (keys.length === 1 ? tf.clone(keys[0]) : tf.concat(keys, 0)) as tf.Tensor4D,
          values: (vals.length === 1 ? tf.clone(vals[0]) : tf.concat(vals, 0)) as tf.Tensor4D,
        };
      }),
    );
  }
  const mask = new Float32Array(rows.length * width);
  rows.forEach((r, k) => mask.fill(1, k * width + width - r.length, (k + 1) * width));
  const cache = new KvCache();
  cache.replace(layers, tf.tensor2d(mask, [rows.length, width]));
  return { cache, lastLogits: rows.map((r) => r.lastLogits) };
}

/** Runs the prefill of tokenized prompts (one left-padded batch, optional LoRA) and returns each row's state. */
export function prefillRows(model: TransformerModel, prompts: number[][], lora?: LoraApplication): RowPrefill[] {
  const batch = leftPadBatch(prompts, model.config.padTokenId ?? 0);
  const cache = new KvCache();
  try {
    const { logits } = model.forward(batch, { cache, lora, logits: 'last' });
    const data = logits!.dataSync() as Float32Array;
    logits!.dispose();
    return splitPrefill(
      cache,
      prompts.map((p) => p.length),
      data,
      model.config.vocabSize,
    );
  } finally {
    tf.dispose([batch.tokenIds, batch.attentionMask]);
    cache.dispose();
  }
}
