import * as tf from '@tensorflow/tfjs-core';

/**
 * Transposes a 2-D tensor through a plain JavaScript loop. On WASM a standalone tf.transpose of
 * 128×768 costs ~18 ms against ~0.3 ms here; used only at load/prepare time, never under a tape.
 */
export function transpose2dJs(t: tf.Tensor): tf.Tensor2D {
  if (t.rank !== 2) throw new Error(`transpose2dJs expects a 2-D tensor, got shape [${t.shape}]`);
  const [rows, cols] = t.shape as [number, number];
  const src = t.dataSync() as Float32Array;
  const dst = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) dst[c * rows + r] = src[base + c];
  }
  return tf.tensor2d(dst, [cols, rows], 'float32');
}

/** x·W (+ bias) over the last axis: x [..., dIn], w [dIn, dOut] (fast layout, no transpose flags). */
export function dense(x: tf.Tensor, w: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const dIn = x.shape[x.rank - 1];
  const x2 = tf.reshape(x, [-1, dIn]) as tf.Tensor2D;
  const y = tf.fused.matMul({ a: x2, b: w as tf.Tensor2D, bias });
  return tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1] as number]);
}

/** LayerNorm over the last axis (biased variance, as PyTorch). */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const centered = tf.sub(x, tf.mean(x, -1, true));
  const variance = tf.mean(tf.square(centered), -1, true);
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

/** RMSNorm over the last axis (LLaMA): x / sqrt(mean(x²) + eps) · gamma. */
export function rmsNorm(x: tf.Tensor, gamma: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), gamma);
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** GPT-2's gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluNew(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.square(x), x), 0.044715)), GELU_C);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** SiLU (x·sigmoid(x)), LLaMA's MLP activation. */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * Embedding lookup table[ids]: ids int32 [...], table [vocab, d] → [..., d].
 * `differentiable` routes the gradient through a scatter-add (ScatterNd sums duplicate indices),
 * because WASM has no kernel for gather's own gradient (UnsortedSegmentSum).
 */
export function embed(table: tf.Tensor, ids: tf.Tensor, differentiable: boolean): tf.Tensor {
  if (!differentiable) return tf.gather(table, ids);
  const [vocab, d] = table.shape as [number, number];
  const flatIds = tf.reshape(ids, [-1]);
  // The ids go in as an input and are saved, so the engine keeps them alive until the backward
  // pass even when the caller's tidy has already freed its own handles.
  const lookup = tf.customGrad(((t: tf.Tensor, idx: tf.Tensor, save: (ts: tf.Tensor[]) => void) => {
    save([idx]);
    return {
      value: tf.gather(t, idx),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.scatterND(tf.reshape(saved[0], [-1, 1]), dy, [vocab, d]),
        tf.zerosLike(saved[0]),
      ],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return tf.reshape(lookup(table, flatIds) as tf.Tensor, [...ids.shape, d]);
}
