import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers every tfjs-core gradient (see src/engine/gradients.ts)
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { applyHead, contrastiveEntropyLoss, maskTokens, trainProjectionHeads } from './contrastive-entropy.js';
import { OodRandom } from './random.js';

type Mat = number[][];
const matmul = (a: Mat, b: Mat): Mat => a.map((r) => b[0].map((_, j) => r.reduce((s, v, k) => s + v * b[k][j], 0)));
const normRows = (a: Mat): Mat => a.map((r) => r.map((v) => v / Math.sqrt(r.reduce((s, x) => s + x * x, 0) + 1e-12)));

// Float64 reference of the objective, straight from the definition in the file comment.
function refLoss(w: Mat[], w0: Mat[], masked: Mat[], unmasked: Mat[], tau: number, mu: number, normalize: boolean): number {
  let total = 0;
  w.forEach((wl, l) => {
    let za = matmul(masked[l], wl);
    let zb = matmul(unmasked[l], w0[l]);
    if (normalize) [za, zb] = [normRows(za), normRows(zb)];
    let h = 0;
    for (const a of za) {
      const logits = zb.map((b) => a.reduce((s, v, k) => s + v * b[k], 0) / tau);
      const mx = Math.max(...logits);
      const z = logits.reduce((s, v) => s + Math.exp(v - mx), 0);
      const p = logits.map((v) => Math.exp(v - mx) / z);
      h -= p.reduce((s, pj) => s + (pj > 0 ? pj * Math.log(pj) : 0), 0);
    }
    const d = wl.length;
    const prox = wl.reduce((s, r, i) => s + r.reduce((t, v, j) => t + (v - w0[l][i][j]) ** 2, 0), 0) / d;
    total += h / za.length + mu * prox;
  });
  return total;
}

const eye = (d: number): Mat => Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? 1 : 0)));

describe('contrastiveEntropyLoss', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('matches a hand-computed batch (literal dot product, τ = 1)', () => {
    // One layer, identity heads, masked = unmasked = [[1,0],[0,1]]: logits = I, each row's softmax
    // is (e, 1)/(e + 1), so the entropy per row is log(e + 1) − e/(e + 1).
    const x = [[1, 0], [0, 1]];
    const want = Math.log(Math.E + 1) - Math.E / (Math.E + 1);
    const got = tf.tidy(() =>
      contrastiveEntropyLoss([tf.tensor2d(eye(2))], [tf.tensor2d(eye(2))], [tf.tensor2d(x)], [tf.tensor2d(x)], {
        normalize: false,
        temperature: 1,
      }).dataSync()[0]);
    expect(got).toBeCloseTo(want, 5);
  });

  it('matches the float64 reference on a random batch (2 layers, normalised, τ = 0.5, μ = 0.3)', () => {
    const rng = new OodRandom(1);
    const rand = (r: number, c: number, s = 1): Mat => Array.from({ length: r }, () => Array.from({ length: c }, () => s * rng.normal()));
    const dims = [3, 4];
    const w = dims.map((d) => eye(d).map((r) => r.map((v) => v + 0.2 * rng.normal())));
    const w0 = dims.map(eye);
    const masked = dims.map((d) => rand(5, d));
    const unmasked = dims.map((d) => rand(5, d));
    const opts = { temperature: 0.5, regularization: 0.3 };
    const got = tf.tidy(() =>
      contrastiveEntropyLoss(w.map((m) => tf.tensor2d(m)), w0.map((m) => tf.tensor2d(m)), masked.map((m) => tf.tensor2d(m)),
        unmasked.map((m) => tf.tensor2d(m)), opts).dataSync()[0]);
    const want = refLoss(w, w0, masked, unmasked, 0.5, 0.3, true);
    expect(Math.abs(got - want)).toBeLessThan(1e-5 * Math.max(1, want));

    // Gradient w.r.t. every head entry against float64 central differences.
    const grads = tf.tidy(() => {
      const wt = w.map((m) => tf.tensor2d(m));
      const g = tf.grads((...hs: tf.Tensor[]) =>
        contrastiveEntropyLoss(hs as tf.Tensor2D[], w0.map((m) => tf.tensor2d(m)), masked.map((m) => tf.tensor2d(m)),
          unmasked.map((m) => tf.tensor2d(m)), opts))(wt);
      return g.map((t) => t.arraySync() as Mat);
    });
    const h = 1e-6;
    let maxErr = 0;
    w.forEach((wl, l) => wl.forEach((row, i) => row.forEach((_, j) => {
      const plus = w.map((m) => m.map((r) => [...r]));
      const minus = w.map((m) => m.map((r) => [...r]));
      plus[l][i][j] += h;
      minus[l][i][j] -= h;
      const fd = (refLoss(plus, w0, masked, unmasked, 0.5, 0.3, true) - refLoss(minus, w0, masked, unmasked, 0.5, 0.3, true)) / (2 * h);
      maxErr = Math.max(maxErr, Math.abs(grads[l][i][j] - fd) / Math.max(1, Math.abs(fd)));
    })));
    // float32 backend vs float64 reference.
    expect(maxErr).toBeLessThan(2e-3);
  });
});

describe('trainProjectionHeads', () => {
  it('lowers the CEL objective, is deterministic and frees every tensor', async () => {
    await initBackend();
    const rng = new OodRandom(2);
    const items = Array.from({ length: 12 }, (_, i) => [Float32Array.from({ length: 8 }, (_, k) => (k === i % 4 ? 3 : 0) + rng.normal())]);
    const masked = items.map((layers) => layers.map((f) => f.map((v) => v + 0.5 * rng.normal())));
    const before = tf.memory().numTensors;
    const sut = trainProjectionHeads(items, masked, { epochs: 40, learningRate: 0.01, seed: 3 });
    expect(tf.memory().numTensors).toBe(before);
    expect(sut.losses.at(-1)!).toBeLessThan(sut.losses[0]);
    expect(sut.heads[0].length).toBe(64);
    const again = trainProjectionHeads(items, masked, { epochs: 40, learningRate: 0.01, seed: 3 });
    expect(Array.from(again.heads[0])).toEqual(Array.from(sut.heads[0]));
    // applyHead is f·W.
    const z = applyHead(sut.heads[0], 8, items[0][0]);
    for (let j = 0; j < 8; j++) {
      let s = 0;
      for (let k = 0; k < 8; k++) s += items[0][0][k] * sut.heads[0][k * 8 + j];
      expect(z[j]).toBeCloseTo(s, 5);
    }
  });
});

describe('maskTokens', () => {
  it('masks round(15%) distinct positions, reproducibly, at least one', () => {
    const ids = Array.from({ length: 40 }, (_, i) => i + 100);
    const sut = maskTokens(ids, 0.15, 7, 42);
    expect(sut.filter((v) => v === 7)).toHaveLength(6);
    expect(sut.filter((v, i) => v !== 7 && v !== ids[i])).toHaveLength(0);
    expect(maskTokens(ids, 0.15, 7, 42)).toEqual(sut);
    expect(maskTokens(ids, 0.15, 7, 43)).not.toEqual(sut);
    expect(maskTokens([5, 6, 7], 0.15, 0, 1).filter((v) => v === 0)).toHaveLength(1);
    expect(maskTokens([], 0.15, 0, 1)).toEqual([]);
    expect(ids[0]).toBe(100);
    expect(() => maskTokens(ids, 2, 0, 0)).toThrow();
  });
});
