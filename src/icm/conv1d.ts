import * as tf from '@tensorflow/tfjs-core';

/*
 * Strided 1-D convolutions (kernel 4, stride 2, padding 1) written as reshape + slice + matMul.
 *
 * Why not tf.conv1d / tf.conv2dTranspose: on the WASM backend Conv2D and Conv2DBackpropInput have
 * kernels but Conv2DBackpropFilter does not, so the filter gradient of any tfjs convolution fails
 * there. With stride 2 and kernel 4 every output window is two adjacent "pairs" of input positions,
 * so im2col is a reshape and two slices; everything left is MatMul, Slice, Pad, Concat and Reshape,
 * which all have WASM kernels and gradients, and the matMul runs through XNNPACK.
 *
 * Tap convention (PyTorch's Conv1d / ConvTranspose1d with k=4, s=2, p=1):
 *   down: y[o]  = Σ_k W[k]ᵀ x[2o + k - 1]                (x zero outside [0, L))
 *   up:   y[2i + k - 1] += W[k]ᵀ x[i]                    (the adjoint of down)
 * Down weights are stored as [4·cIn, cOut] (row = k·cIn + c); up weights as [cIn, 4·cOut]
 * (column = k·cOut + c).
 */

export const KERNEL = 4;

/** Bias is optional: a convolution followed by BatchNorm does not need one (BN removes the mean). */
function addBias<T extends tf.Tensor>(y: T, bias?: tf.Tensor1D): T {
  return bias ? tf.add(y, bias) : y;
}

/**
 * x [m, k] · w [k, n] with a gradient that transposes explicitly: on the WASM backend a matMul
 * with a transpose flag is 4–10× slower than transpose + plain matMul (measured on tfjs 4.22).
 */
const linearOp = tf.customGrad<tf.Tensor2D>((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, w, save] = inputs as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.matMul(x, w) as tf.Tensor2D,
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy)];
    },
  };
});

export function linear(x: tf.Tensor, w: tf.Tensor): tf.Tensor2D {
  return linearOp(x, w);
}

/**
 * Non-overlapping strided convolution (kernel = stride = patch): x [batch, length] (length a
 * multiple of patch), w [patch, cOut] → [batch, length/patch, cOut].
 */
export function patchDown(x: tf.Tensor2D, w: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor3D {
  return tf.tidy(() => {
    const [batch, length] = x.shape;
    const patch = w.shape[0];
    const y = addBias(linear(tf.reshape(x, [(batch * length) / patch, patch]), w), bias);
    return tf.reshape(y, [batch, length / patch, w.shape[1]]);
  });
}

/** Its transpose: x [batch, n, cIn], w [cIn, patch], bias [1] → [batch, n·patch]. */
export function patchUp(x: tf.Tensor3D, w: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, n, cIn] = x.shape;
    const y = addBias(linear(tf.reshape(x, [batch * n, cIn]), w), bias);
    return tf.reshape(y, [batch, n * w.shape[1]]);
  });
}

/** x [batch, length, cIn] (length even), w [4·cIn, cOut], bias? [cOut] → [batch, length/2, cOut]. */
export function conv1dDown(x: tf.Tensor3D, w: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor3D {
  return tf.tidy(() => {
    const [batch, length, cIn] = x.shape;
    if (length % 2 !== 0) throw new Error(`conv1dDown needs an even length, got ${length}`);
    const half = length / 2;
    const padded = tf.pad(x, [[0, 0], [1, 1], [0, 0]]); // [batch, length + 2, cIn]
    const pairs = tf.reshape(padded, [batch, half + 1, 2 * cIn]);
    const left = tf.slice(pairs, [0, 0, 0], [batch, half, 2 * cIn]); // taps 0, 1
    const right = tf.slice(pairs, [0, 1, 0], [batch, half, 2 * cIn]); // taps 2, 3
    const patches = tf.reshape(tf.concat([left, right], 2), [batch * half, KERNEL * cIn]);
    const y = addBias(linear(patches, w), bias); // [batch·half, cOut]
    return tf.reshape(y, [batch, half, w.shape[1]]);
  });
}

/** x [batch, length, cIn], w [cIn, 4·cOut], bias? [cOut] → [batch, 2·length, cOut]. */
export function conv1dUp(x: tf.Tensor3D, w: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor3D {
  return tf.tidy((): tf.Tensor3D => {
    const [batch, length, cIn] = x.shape;
    const cOut = w.shape[1] / KERNEL;
    const u = tf.reshape(linear(tf.reshape(x, [batch * length, cIn]), w), [batch, length, KERNEL * cOut]);
    // Input i writes taps 0, 1 into output pair i and taps 2, 3 into pair i + 1 (output shifted by the
    // padding of 1, so pair q holds positions 2q - 1 and 2q).
    const first = tf.slice(u, [0, 0, 0], [batch, length, 2 * cOut]);
    const second = tf.slice(u, [0, 0, 2 * cOut], [batch, length, 2 * cOut]);
    const pairs = tf.add(tf.pad(first, [[0, 0], [0, 1], [0, 0]]), tf.pad(second, [[0, 0], [1, 0], [0, 0]]));
    const full = tf.reshape(pairs, [batch, 2 * length + 2, cOut]);
    return addBias(tf.slice(full, [0, 1, 0], [batch, 2 * length, cOut]) as tf.Tensor3D, bias);
  });
}
