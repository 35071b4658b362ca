import * as tf from '@tensorflow/tfjs-core';

/** cos and sin tables for RoPE at given positions, both [rows, 1, headDim] (rows = batch·seq). */
export interface RopeTables {
  cos: tf.Tensor3D;
  sin: tf.Tensor3D;
}

/**
 * RoPE tables in Hugging Face LLaMA's layout: inv_freq_i = θ^(−2i/d) for i < d/2, and the angle
 * vector duplicated as [freqs, freqs] (the rotate_half convention, not interleaved pairs).
 * positions: int32 [batch, seq]. `scale` multiplies both tables: queries fold attention's
 * 1/√headDim in here instead of scaling the larger [.., seq, T] score tensor.
 */
export function ropeTables(positions: tf.Tensor2D, headDim: number, theta: number, scale = 1): RopeTables {
  return tf.tidy(() => {
    const half = headDim / 2;
    const inv = new Float32Array(headDim);
    for (let i = 0; i < half; i++) {
      const f = 1 / Math.pow(theta, (2 * i) / headDim);
      inv[i] = f;
      inv[i + half] = f;
    }
    const [b, s] = positions.shape;
    // [rows, 1] × [headDim] → [rows, headDim]
    const angles = tf.mul(tf.reshape(tf.cast(positions, 'float32'), [b * s, 1]), tf.tensor1d(inv));
    const table = (t: tf.Tensor) => tf.reshape(scale === 1 ? t : tf.mul(t, scale), [b * s, 1, headDim]) as tf.Tensor3D;
    return { cos: table(tf.cos(angles)), sin: table(tf.sin(angles)) };
  });
}

/**
 * The signed permutation P [headDim, headDim] with x·P = rotate_half(x) = [−x₂, x₁]: one small
 * matMul instead of split + neg + concat (WASM slices the last axis in short row copies).
 */
export function rotateHalfMatrix(headDim: number): tf.Tensor2D {
  const half = headDim / 2;
  const p = new Float32Array(headDim * headDim);
  for (let j = 0; j < half; j++) {
    p[(j + half) * headDim + j] = -1; // out[j] = −x[j + half]
    p[j * headDim + j + half] = 1; // out[j + half] = x[j]
  }
  return tf.tensor2d(p, [headDim, headDim]);
}

/**
 * Applies RoPE to x [rows, heads·headDim]: x·cos + rotate_half(x)·sin per head, with the tables of
 * ropeTables and P of rotateHalfMatrix. Returns [rows, heads·headDim].
 */
export function applyRope(x: tf.Tensor2D, heads: number, tables: RopeTables, rotation: tf.Tensor2D): tf.Tensor2D {
  const rows = x.shape[0];
  const headDim = rotation.shape[0];
  const rotated = tf.reshape(tf.matMul(tf.reshape(x, [rows * heads, headDim]) as tf.Tensor2D, rotation), [rows, heads, headDim]);
  const out = tf.add(tf.mul(tf.reshape(x, [rows, heads, headDim]), tables.cos), tf.mul(rotated, tables.sin));
  return tf.reshape(out, [rows, heads * headDim]) as tf.Tensor2D;
}
