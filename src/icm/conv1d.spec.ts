import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { ensureGradients } from '../engine/gradients.js';
import { conv1dDown, conv1dUp, linear, patchDown, patchUp } from './conv1d.js';
import { SeededRandom } from './random.js';

// Float64 references written from the definitions (PyTorch Conv1d / ConvTranspose1d, k=4, s=2, p=1).
function refDown(x: Float64Array, w: Float64Array, bias: Float64Array, batch: number, len: number, cIn: number, cOut: number) {
  const half = len / 2;
  const y = new Float64Array(batch * half * cOut);
  for (let b = 0; b < batch; b++)
    for (let o = 0; o < half; o++)
      for (let co = 0; co < cOut; co++) {
        let s = bias[co];
        for (let k = 0; k < 4; k++) {
          const p = 2 * o + k - 1;
          if (p < 0 || p >= len) continue;
          for (let c = 0; c < cIn; c++) s += w[(k * cIn + c) * cOut + co] * x[(b * len + p) * cIn + c];
        }
        y[(b * half + o) * cOut + co] = s;
      }
  return y;
}

function refUp(x: Float64Array, w: Float64Array, bias: Float64Array, batch: number, len: number, cIn: number, cOut: number) {
  const outLen = 2 * len;
  const y = new Float64Array(batch * outLen * cOut);
  for (let b = 0; b < batch; b++)
    for (let p = 0; p < outLen; p++) for (let co = 0; co < cOut; co++) y[(b * outLen + p) * cOut + co] = bias[co];
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < len; i++)
      for (let k = 0; k < 4; k++) {
        const p = 2 * i + k - 1;
        if (p < 0 || p >= outLen) continue;
        for (let co = 0; co < cOut; co++) {
          let s = 0;
          for (let c = 0; c < cIn; c++) s += w[c * 4 * cOut + k * cOut + co] * x[(b * len + i) * cIn + c];
          y[(b * outLen + p) * cOut + co] += s;
        }
      }
  return y;
}

const rng = new SeededRandom(Date.now() % 100000); // fresh inputs every run
const rand = (n: number) => rng.normals(n);
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('strided conv1d ops', () => {
  beforeAll(async () => {
    await initBackend();
    await ensureGradients();
  });

  it('conv1dDown matches the float64 definition (tolerance 1e-4)', () => {
    const [batch, len, cIn, cOut] = [3, 10, 2, 5];
    const x = rand(batch * len * cIn), w = rand(4 * cIn * cOut), bias = rand(cOut);
    const y = conv1dDown(tf.tensor3d(x, [batch, len, cIn]), tf.tensor2d(w, [4 * cIn, cOut]), tf.tensor1d(bias));
    expect(y.shape).toEqual([batch, len / 2, cOut]);
    const ref = refDown(Float64Array.from(x), Float64Array.from(w), Float64Array.from(bias), batch, len, cIn, cOut);
    expect(maxAbsDiff(y.dataSync(), ref)).toBeLessThan(1e-4);
  });

  it('conv1dUp matches the float64 definition (tolerance 1e-4)', () => {
    const [batch, len, cIn, cOut] = [2, 7, 3, 4];
    const x = rand(batch * len * cIn), w = rand(cIn * 4 * cOut), bias = rand(cOut);
    const y = conv1dUp(tf.tensor3d(x, [batch, len, cIn]), tf.tensor2d(w, [cIn, 4 * cOut]), tf.tensor1d(bias));
    expect(y.shape).toEqual([batch, 2 * len, cOut]);
    const ref = refUp(Float64Array.from(x), Float64Array.from(w), Float64Array.from(bias), batch, len, cIn, cOut);
    expect(maxAbsDiff(y.dataSync(), ref)).toBeLessThan(1e-4);
  });

  it('gradients of conv1dDown w.r.t. weights and input match float64 references (1e-3)', () => {
    const [batch, len, cIn, cOut] = [2, 8, 3, 2];
    const x = rand(batch * len * cIn), w = rand(4 * cIn * cOut), g = rand(batch * (len / 2) * cOut);
    const gT = tf.tensor3d(g, [batch, len / 2, cOut]);
    const [dx, dw] = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
      tf.sum(tf.mul(conv1dDown(xx as tf.Tensor3D, ww as tf.Tensor2D, tf.zeros([cOut])), gT)),
    )([tf.tensor3d(x, [batch, len, cIn]), tf.tensor2d(w, [4 * cIn, cOut])]);
    // dW[k·cIn + c, o] = Σ g[b, pos, o]·x[b, 2pos + k - 1, c]; dx is the adjoint: up(g) with W transposed per tap.
    const refDw = new Float64Array(4 * cIn * cOut);
    for (let b = 0; b < batch; b++)
      for (let o = 0; o < len / 2; o++)
        for (let k = 0; k < 4; k++) {
          const p = 2 * o + k - 1;
          if (p < 0 || p >= len) continue;
          for (let c = 0; c < cIn; c++)
            for (let co = 0; co < cOut; co++)
              refDw[(k * cIn + c) * cOut + co] += g[(b * len / 2 + o) * cOut + co] * x[(b * len + p) * cIn + c];
        }
    const wUp = new Float64Array(cOut * 4 * cIn);
    for (let k = 0; k < 4; k++)
      for (let c = 0; c < cIn; c++) for (let co = 0; co < cOut; co++) wUp[co * 4 * cIn + k * cIn + c] = w[(k * cIn + c) * cOut + co];
    const refDx = refUp(Float64Array.from(g), wUp, new Float64Array(cIn), batch, len / 2, cOut, cIn);
    expect(maxAbsDiff(dw.dataSync(), refDw)).toBeLessThan(1e-3);
    expect(maxAbsDiff(dx.dataSync(), refDx)).toBeLessThan(1e-3);
  });

  it('gradient of conv1dUp w.r.t. weights matches central finite differences (float64 reference)', () => {
    const [batch, len, cIn, cOut] = [1, 5, 2, 2];
    const x = rand(batch * len * cIn), w = rand(cIn * 4 * cOut), g = rand(batch * 2 * len * cOut);
    const gT = tf.tensor3d(g, [batch, 2 * len, cOut]);
    const dw = tf.grad((ww: tf.Tensor) =>
      tf.sum(tf.mul(conv1dUp(tf.tensor3d(x, [batch, len, cIn]), ww as tf.Tensor2D, tf.zeros([cOut])), gT)),
    )(tf.tensor2d(w, [cIn, 4 * cOut]));
    const loss = (wv: Float64Array) => {
      const y = refUp(Float64Array.from(x), wv, new Float64Array(cOut), batch, len, cIn, cOut);
      return y.reduce((s, v, i) => s + v * g[i], 0);
    };
    const fd = new Float64Array(w.length);
    const h = 1e-6;
    for (let i = 0; i < w.length; i++) {
      const plus = Float64Array.from(w), minus = Float64Array.from(w);
      plus[i] += h;
      minus[i] -= h;
      fd[i] = (loss(plus) - loss(minus)) / (2 * h);
    }
    expect(maxAbsDiff(dw.dataSync(), fd)).toBeLessThan(1e-3);
  });

  it('patchDown / patchUp are the non-overlapping strided convolution and its transpose (float64 reference)', () => {
    const [batch, patch, n, c] = [2, 4, 3, 5];
    const x = rand(batch * n * patch), w = rand(patch * c), bias = rand(c);
    const y = patchDown(tf.tensor2d(x, [batch, n * patch]), tf.tensor2d(w, [patch, c]), tf.tensor1d(bias));
    const ref = new Float64Array(batch * n * c);
    for (let b = 0; b < batch; b++)
      for (let o = 0; o < n; o++)
        for (let co = 0; co < c; co++) {
          let s = bias[co];
          for (let k = 0; k < patch; k++) s += w[k * c + co] * x[b * n * patch + o * patch + k];
          ref[(b * n + o) * c + co] = s;
        }
    expect(y.shape).toEqual([batch, n, c]);
    expect(maxAbsDiff(y.dataSync(), ref)).toBeLessThan(1e-4);
    // patchUp with the transposed weights is the adjoint: <down(x), g> = <x, up(g)> (no bias).
    const g = rand(batch * n * c);
    const wT = new Float32Array(c * patch);
    for (let k = 0; k < patch; k++) for (let co = 0; co < c; co++) wT[co * patch + k] = w[k * c + co];
    const down = Float64Array.from(patchDown(tf.tensor2d(x, [batch, n * patch]), tf.tensor2d(w, [patch, c])).dataSync());
    const up = Float64Array.from(patchUp(tf.tensor3d(g, [batch, n, c]), tf.tensor2d(wT, [c, patch])).dataSync());
    const lhs = down.reduce((s, v, i) => s + v * g[i], 0);
    const rhs = up.reduce((s, v, i) => s + v * x[i], 0);
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-3 * Math.max(1, Math.abs(lhs)));
  });

  it('linear has the matMul value and gradients (float64 reference)', () => {
    const [m, k, n] = [5, 3, 4];
    const x = rand(m * k), w = rand(k * n), g = rand(m * n);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(linear(a, b), tf.tensor2d(g, [m, n]))))([
      tf.tensor2d(x, [m, k]),
      tf.tensor2d(w, [k, n]),
    ]);
    const refDx = new Float64Array(m * k), refDw = new Float64Array(k * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++)
        for (let l = 0; l < k; l++) {
          refDx[i * k + l] += g[i * n + j] * w[l * n + j];
          refDw[l * n + j] += g[i * n + j] * x[i * k + l];
        }
    expect(maxAbsDiff(dx.dataSync(), refDx)).toBeLessThan(1e-4);
    expect(maxAbsDiff(dw.dataSync(), refDw)).toBeLessThan(1e-4);
  });
});
