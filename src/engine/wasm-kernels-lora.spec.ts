import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers every tfjs-core gradient (see src/engine/gradients.ts)
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { addRowLora, applyRowLora, type LoraRowApply } from './lora-application.js';
import { LoraRowCache, rowLora } from './lora-rows.js';
import { disposeAdapter } from './lora-trainable.js';
import type { PlanEntry } from './lora-types.js';
import { randomAdapter } from './testing/random-adapter.js';
import { randomCheckpoint } from './testing/random-checkpoint.js';
import { createRng } from './trainer.js';
import { leftPadBatch, TransformerModel } from './transformer.js';
import { registerRowLoraKernel, rowLoraFused, unregisterRowLoraKernel } from './wasm-kernels-lora.js';

const backend = await initBackend();
const rng = createRng(1234);
const rand = (n: number) => Float32Array.from({ length: n }, () => rng() * 2 - 1);

/** Float64 y + B_i(A_i x) from the definition, row i of the batch owning seq consecutive rows. */
function reference(y: Float32Array, x: Float32Array, a: Float32Array, b: Float32Array, n: number, seq: number, r: number, dIn: number, dOut: number): Float64Array {
  const out = Float64Array.from(y);
  for (let row = 0; row < n * seq; row++) {
    const i = Math.floor(row / seq);
    for (let o = 0; o < dOut; o++) {
      let s = 0;
      for (let k = 0; k < r; k++) {
        let t = 0;
        for (let d = 0; d < dIn; d++) t += a[(i * r + k) * dIn + d] * x[row * dIn + d];
        s += b[(i * dOut + o) * r + k] * t;
      }
      out[row * dOut + o] += s;
    }
  }
  return out;
}

function maxRelative(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    m = Math.max(m, Math.abs(want[i]));
  }
  return d / m;
}

describe.runIf(backend.name === 'wasm')('fused per-row LoRA kernel (wasm)', () => {
  afterAll(() => registerRowLoraKernel());

  it('equals the composite ops and the float64 definition: mixed ranks, zero-padded slots, rows without adapters, prefill and decode shapes', () => {
    for (const [n, seq, dIn, dOut, r] of [
      [5, 1, 16, 24, 4],
      [3, 7, 32, 8, 6],
      [1, 1, 8, 8, 1],
      [8, 3, 64, 96, 8],
      [2, 2, 13, 5, 7], // dIn and ranks off the unrolled widths
    ]) {
      const rowRanks = Array.from({ length: n }, (_, i) => (i === 1 ? 0 : 1 + Math.floor(rng() * r)));
      const a = rand(n * r * dIn);
      const b = rand(n * dOut * r);
      // Each row uses its first rowRanks[i] slots; the rest is zero padding, as lora-rows.ts builds it.
      for (let i = 0; i < n; i++) {
        for (let k = rowRanks[i]; k < r; k++) {
          a.fill(0, (i * r + k) * dIn, (i * r + k + 1) * dIn);
          for (let o = 0; o < dOut; o++) b[(i * dOut + o) * r + k] = 0;
        }
      }
      const x = rand(n * seq * dIn);
      const y = rand(n * seq * dOut);
      const m: LoraRowApply = { a: tf.tensor3d(a, [n, r, dIn]), b: tf.tensor3d(b, [n, dOut, r]), ranks: rowRanks };
      const xt = tf.tensor2d(x, [n * seq, dIn]);
      const yt = tf.tensor2d(y, [n * seq, dOut]);
      expect(rowLoraFused()).toBe(true);
      const fused = addRowLora(yt, xt, m, n, seq);
      const scanned = addRowLora(yt, xt, { a: m.a, b: m.b }, n, seq); // ranks found by scanning A
      const composite = tf.add(yt, applyRowLora(xt, m, n, seq));
      const want = reference(y, x, a, b, n, seq, r, dIn, dOut);
      expect(fused.shape).toEqual([n * seq, dOut]);
      expect(maxRelative(fused.dataSync(), composite.dataSync())).toBeLessThan(1e-5);
      expect(maxRelative(fused.dataSync(), want)).toBeLessThan(1e-6);
      expect(maxRelative(scanned.dataSync(), want)).toBeLessThan(1e-6);
      // The row without adapters is exactly its base projection.
      if (n > 1) expect(Array.from(fused.dataSync().slice(seq * dOut, 2 * seq * dOut))).toEqual(Array.from(y.slice(seq * dOut, 2 * seq * dOut)));
      tf.dispose([m.a, m.b, xt, yt, fused, scanned, composite]);
    }
  });

  it('refuses inputs whose shapes do not fit, naming them', () => {
    const m: LoraRowApply = { a: tf.zeros([2, 3, 4]) as tf.Tensor3D, b: tf.zeros([2, 5, 3]) as tf.Tensor3D };
    const x = tf.zeros([3, 4]) as tf.Tensor2D;
    const y = tf.zeros([3, 5]) as tf.Tensor2D;
    expect(() => addRowLora(y, x, m, 2, 1)).toThrow(/shapes y \[3,5\]/);
    tf.dispose([m.a, m.b, x, y]);
  });

  it('a forward pass with per-row plans gives the same logits fused and composite, and leaks no tensor', () => {
    const ck = randomCheckpoint('llama', { nHeads: 4, nKvHeads: 2 }, 7);
    const model = TransformerModel.create(ck.modelConfig, ck.weights);
    const a1 = randomAdapter(ck.modelConfig, { rank: 2, alpha: 3 }, 21);
    const a2 = randomAdapter(ck.modelConfig, { rank: 5, alpha: 8, targetModules: ['q_proj', 'v_proj'] }, 22);
    const plans: PlanEntry[][] = [[{ adapter: a1, strength: 0.8 }], [], [{ adapter: a2, strength: -1.2 }, { adapter: a1, strength: 0.3 }], [{ adapter: a2, strength: 1 }]];
    const batch = leftPadBatch([[3, 1, 4, 1, 5], [9, 2], [6, 5, 3], [5, 8, 9, 7]], 0);
    const lora = rowLora(model, plans, new LoraRowCache());
    const run = () => {
      const { logits } = model.forward(batch, { lora });
      const out = logits!.dataSync().slice();
      logits!.dispose();
      return out;
    };
    const before = tf.memory().numTensors;
    const fused = run();
    expect(tf.memory().numTensors).toBe(before);
    unregisterRowLoraKernel();
    expect(rowLoraFused()).toBe(false);
    const composite = run();
    registerRowLoraKernel();
    const base = (() => {
      const { logits } = model.forward(batch);
      const out = logits!.dataSync().slice();
      logits!.dispose();
      return out;
    })();
    expect(maxRelative(base, composite)).toBeGreaterThan(1e-3); // the plans change the logits
    expect(maxRelative(fused, composite)).toBeLessThan(1e-5);
    lora.dispose();
    tf.dispose([batch.tokenIds, batch.attentionMask, ...ck.weights.values()]);
    [a1, a2].forEach(disposeAdapter);
    model.dispose();
  });

  it('falls back to the composite ops under a gradient tape (the kernel has no gradient)', () => {
    const m: LoraRowApply = { a: tf.tensor3d(rand(2 * 2 * 3), [2, 2, 3]), b: tf.tensor3d(rand(2 * 4 * 2), [2, 4, 2]) };
    const x = tf.tensor2d(rand(2 * 3), [2, 3]);
    const y = tf.tensor2d(rand(2 * 4), [2, 4]);
    const g = tf.grad((xx: tf.Tensor) => tf.sum(addRowLora(y, xx as tf.Tensor2D, m, 2, 1)))(x);
    expect(g.shape).toEqual([2, 3]);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([m.a, m.b, x, y, g]);
  });
});
