import * as tf from '@tensorflow/tfjs-core';
import type { LayerKv } from './kv-cache.js';

/**
 * Additive attention bias [batch, 1, seq, T] for `seq` new queries after `past` cached columns:
 * 0 where query i may see key j (j ≤ past + i and key j is a real token), −1e9 elsewhere.
 * keyMask: [batch, T] with T = past + seq.
 */
export function attentionBias(keyMask: tf.Tensor2D, seq: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, total] = keyMask.shape;
    const past = total - seq;
    const causal = new Float32Array(seq * total);
    for (let i = 0; i < seq; i++) {
      for (let j = past + i + 1; j < total; j++) causal[i * total + j] = -1e9;
    }
    const pad = tf.reshape(tf.mul(tf.sub(1, keyMask), -1e9), [b, 1, 1, total]);
    return tf.add(tf.tensor4d(causal, [1, 1, seq, total]), pad) as tf.Tensor4D;
  });
}

export interface AttentionShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

/** The batch's shape: `seq` new keys and values per row; queries at the last `querySeq` of them (default all). */
export interface AttentionBatch {
  batch: number;
  seq: number;
  querySeq?: number;
}

/**
 * Scaled dot-product attention with grouped-query heads (query head h reads kv head
 * ⌊h / (nHeads/nKvHeads)⌋, as HF's repeat_kv), without copying K/V per group.
 * Rows are batch·seq tokens, row-major: q [b·sq, nHeads·hd] ALREADY scaled by 1/√hd (RoPE applied),
 * k/v [b·s, nKvHeads·hd], bias [b, 1, s, T]; sq = querySeq (default s): queries of the last sq
 * new positions only (a last layer that needs the final position alone), bias rows cut to match.
 * Returns the context [b·sq, nHeads·hd] and this layer's K/V over all T columns (past + new).
 */
export function attend(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  bias: tf.Tensor4D,
  shape: AttentionShape & AttentionBatch,
  past?: LayerKv,
): { context: tf.Tensor2D; kv: LayerKv } {
  const { nHeads, nKvHeads, headDim, batch: b, seq: s } = shape;
  const sq = shape.querySeq ?? s;
  const groups = nHeads / nKvHeads;
  let keysT = tf.transpose(tf.reshape(k, [b, s, nKvHeads, headDim]), [0, 2, 3, 1]) as tf.Tensor4D; // [b, nKv, hd, s]
  let values = tf.transpose(tf.reshape(v, [b, s, nKvHeads, headDim]), [0, 2, 1, 3]) as tf.Tensor4D; // [b, nKv, s, hd]
  if (past) {
    keysT = tf.concat([past.keysT, keysT], 3);
    values = tf.concat([past.values, values], 2);
  }
  const total = keysT.shape[3];
  // [b, nHeads, s, hd] is contiguous as [b, nKv, groups·s, hd]: heads of one group are adjacent.
  const qh = tf.reshape(tf.transpose(tf.reshape(q, [b, sq, nHeads, headDim]), [0, 2, 1, 3]), [b, nKvHeads, groups * sq, headDim]);
  const rows = sq === s ? bias : tf.slice(bias, [0, 0, s - sq, 0], [-1, -1, sq, -1]);
  const scores = tf.add(tf.reshape(tf.matMul(qh, keysT), [b, nHeads, sq, total]), rows); // [b, nH, sq, T]
  const probs = tf.reshape(tf.softmax(scores), [b, nKvHeads, groups * sq, total]);
  const heads = tf.reshape(tf.matMul(probs, values), [b, nHeads, sq, headDim]);
  const context = tf.reshape(tf.transpose(heads, [0, 2, 1, 3]), [b * sq, nHeads * headDim]) as tf.Tensor2D;
  return { context, kv: { keysT, values } };
}
