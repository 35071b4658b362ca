import * as tf from '@tensorflow/tfjs-core';

/** cos and sin tables for RoPE at given positions, both [batch, seq, 1, headDim]. */
export interface RopeTables {
  cos: tf.Tensor4D;
  sin: tf.Tensor4D;
}

/**
 * RoPE tables in Hugging Face LLaMA's layout: inv_freq_i = θ^(−2i/d) for i < d/2, and the angle
 * vector duplicated as [freqs, freqs] (the rotate_half convention, not interleaved pairs).
 * positions: int32 [batch, seq].
 */
export function ropeTables(positions: tf.Tensor2D, headDim: number, theta: number): RopeTables {
  return tf.tidy(() => {
    const half = headDim / 2;
    const inv = new Float32Array(headDim);
    for (let i = 0; i < half; i++) {
      const f = 1 / Math.pow(theta, (2 * i) / headDim);
      inv[i] = f;
      inv[i + half] = f;
    }
    const [b, s] = positions.shape;
    // [batch, seq, 1] × [headDim] → [batch, seq, headDim]
    const angles = tf.mul(tf.reshape(tf.cast(positions, 'float32'), [b, s, 1]), tf.tensor1d(inv));
    return {
      cos: tf.reshape(tf.cos(angles), [b, s, 1, headDim]) as tf.Tensor4D,
      sin: tf.reshape(tf.sin(angles), [b, s, 1, headDim]) as tf.Tensor4D,
    };
  });
}

/** Applies RoPE to x [batch, seq, heads, headDim]: x·cos + rotate_half(x)·sin. */
export function applyRope(x: tf.Tensor, tables: RopeTables): tf.Tensor {
  const headDim = x.shape[3] as number;
  const [x1, x2] = tf.split(x, [headDim / 2, headDim / 2], 3);
  const rotated = tf.concat([tf.neg(x2), x1], 3);
  return tf.add(tf.mul(x, tables.cos), tf.mul(rotated, tables.sin));
}
