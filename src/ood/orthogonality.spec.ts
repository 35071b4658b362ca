import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers every tfjs-core gradient (see src/engine/gradients.ts)
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import { layerIndexOf, orthogonalityLoss, stackFrozenFactors } from './orthogonality.js';
import { OodRandom } from './random.js';

type Mat = number[][];
const rng = new OodRandom(4);
const rand = (r: number, c: number): Mat => Array.from({ length: r }, () => Array.from({ length: c }, () => rng.normal()));

// Float64 reference from the definition: mean over layers of Σ_modules Σ_k ‖A_k A_tᵀ‖²_F.
function refLoss(current: Map<string, Mat>, frozen: Map<string, Mat>[]): number {
  const layers = new Set([...current.keys()].map(layerIndexOf));
  let total = 0;
  for (const [name, at] of current) {
    for (const adapter of frozen) {
      const ak = adapter.get(name);
      if (!ak) continue;
      for (const rk of ak) for (const rt of at) total += rk.reduce((s, v, i) => s + v * rt[i], 0) ** 2;
    }
  }
  return total / layers.size;
}

const modules = ['model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.up_proj', 'model.layers.1.self_attn.q_proj'];
const dIn = [6, 6, 6];

function adapter(mats: Map<string, Mat>, rank: number): LoraAdapter {
  return {
    rank,
    alpha: 16,
    targetModules: ['q_proj', 'up_proj'],
    modules: new Map([...mats].map(([n, a]) => [n, { a: tf.tensor2d(a), b: tf.zeros([a[0].length, rank]) as tf.Tensor2D }])),
  };
}

describe('orthogonalityLoss', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('parses layer indices from HF module names', () => {
    expect(layerIndexOf('model.layers.12.mlp.down_proj')).toBe(12);
    expect(layerIndexOf('transformer.h.3.attn.c_attn')).toBe(3);
    expect(layerIndexOf('lm_head')).toBe(-1);
  });

  it('matches the float64 value and finite-difference gradient; frees its tensors', () => {
    const f1 = new Map(modules.map((m, i) => [m, rand(2, dIn[i])]));
    const f2 = new Map(modules.slice(0, 2).map((m, i) => [m, rand(3, dIn[i])])); // rank 3, fewer modules
    const current = new Map(modules.map((m, i) => [m, rand(4, dIn[i])]));
    const frozenAdapters = [adapter(f1, 2), adapter(f2, 3)];
    const sut = stackFrozenFactors(frozenAdapters);
    const before = tf.memory().numTensors;
    const names = [...current.keys()];
    const value = tf.tidy(() => orthogonalityLoss(new Map(names.map((n) => [n, tf.tensor2d(current.get(n)!)])), sut).dataSync()[0]);
    const want = refLoss(current, [f1, f2]);
    expect(Math.abs(value - want)).toBeLessThan(1e-5 * want);

    const grads = tf.tidy(() =>
      tf.grads((...as: tf.Tensor[]) => orthogonalityLoss(new Map(names.map((n, i) => [n, as[i] as tf.Tensor2D])), sut))(
        names.map((n) => tf.tensor2d(current.get(n)!)),
      ).map((g) => g.arraySync() as Mat));
    expect(tf.memory().numTensors).toBe(before);
    const h = 1e-6;
    let maxErr = 0;
    names.forEach((n, m) => current.get(n)!.forEach((row, i) => row.forEach((v, j) => {
      const bump = (delta: number): number => {
        const c = new Map([...current].map(([k, a]) => [k, a.map((r) => [...r])]));
        c.get(n)![i][j] = v + delta;
        return refLoss(c, [f1, f2]);
      };
      const fd = (bump(h) - bump(-h)) / (2 * h);
      maxErr = Math.max(maxErr, Math.abs(grads[m][i][j] - fd) / Math.max(1, Math.abs(fd)));
    })));
    expect(maxErr).toBeLessThan(1e-4);
    sut.dispose();
    frozenAdapters.forEach((a) => a.modules.forEach((w) => (w.a.dispose(), w.b.dispose())));
  });

  it('is 0 when A_t is orthogonal to every earlier A_k, and without earlier adapters', () => {
    const name = 'model.layers.0.self_attn.q_proj';
    const frozen = stackFrozenFactors([adapter(new Map([[name, [[1, 0, 0, 0], [0, 1, 0, 0]]]]), 2)]);
    const ortho = tf.tidy(() => orthogonalityLoss(new Map([[name, tf.tensor2d([[0, 0, 1, 0], [0, 0, 0, 2]])]]), frozen).dataSync()[0]);
    expect(ortho).toBe(0);
    const none = stackFrozenFactors([]);
    expect(tf.tidy(() => orthogonalityLoss(new Map([[name, tf.ones([2, 4]) as tf.Tensor2D]]), none).dataSync()[0])).toBe(0);
    frozen.dispose();
  });
});
