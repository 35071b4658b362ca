import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { flattenAdapter } from './flatten.js';
import { AdapterGenerator } from './generator.js';
import { deserialiseGenerator, serialiseGenerator } from './generator-io.js';
import type { CvaeProgress } from './cvae-train.js';
import { AdapterFactory } from './testing/adapter.factory.js';
import { toyTaskSet, type ToyTaskSet } from './testing/task-checkpoints.factory.js';

const rmsDiff = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / a.length);

function taskMeans(set: ToyTaskSet): Float32Array[] {
  return Array.from({ length: set.tasks }, (_, t) => {
    const flats = set.samples.filter((_, i) => Math.floor(i / (set.samples.length / set.tasks)) === t).map((s) => flattenAdapter(s.adapter, { normalise: false }).values);
    return flats[0].map((_, j) => flats.reduce((sum, f) => sum + f[j], 0) / flats.length);
  });
}

describe('AdapterGenerator (CVAE over flattened adapters)', () => {
  let set: ToyTaskSet;
  let sut: AdapterGenerator;
  const progress: CvaeProgress[] = [];

  beforeAll(async () => {
    await initBackend();
    set = toyTaskSet({ tasks: 2, checkpoints: 6 });
    sut = await AdapterGenerator.train(set.samples, { seed: 3, epochs: 40, batchSize: 4, onProgress: (p) => progress.push(p) });
  }, 120_000);

  afterAll(() => {
    sut?.dispose();
    for (const s of set.samples) AdapterFactory.dispose(s.adapter);
  });

  it('reports progress every epoch and the loss decreases on the toy set', () => {
    expect(progress.map((p) => p.epoch)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const first = progress.slice(0, 3).reduce((s, p) => s + p.mse, 0) / 3;
    const last = progress.slice(-3).reduce((s, p) => s + p.mse, 0) / 3;
    expect(last).toBeLessThan(0.5 * first);
    expect(progress.every((p) => Number.isFinite(p.loss) && p.kl >= 0)).toBe(true);
    expect(sut.state.history).toEqual(progress);
  });

  it('conditioning matters: each condition generates its own task, clearly apart from the other', () => {
    const means = taskMeans(set);
    const spread = rmsDiff(means[0], means[1]);
    for (let t = 0; t < 2; t++) {
      const flat = sut.generateFlat(set.conditions[t], 100 + t);
      const own = rmsDiff(flat, means[t]);
      const other = rmsDiff(flat, means[1 - t]);
      expect(own).toBeLessThan(0.5 * other);
      expect(own).toBeLessThan(0.5 * spread);
    }
  });

  it('generation is deterministic in the seed and returns an adapter of the training layout', () => {
    const a = sut.generateFlat(set.conditions[0], 7);
    const b = sut.generateFlat(set.conditions[0], 7);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    const c = sut.generateFlat(set.conditions[0], 8);
    expect(rmsDiff(a, c)).toBeGreaterThan(0);
    const adapter = sut.generate(set.conditions[0], 7);
    sut.assertCompatible(adapter);
    expect(adapter.rank).toBe(4);
    expect(adapter.alpha).toBe(8);
    expect(flattenAdapter(adapter, { normalise: false }).values).toEqual(a);
    expect(() => sut.assertCompatible(AdapterFactory.create({ rank: 2 }))).toThrow(/layout/);
    AdapterFactory.dispose(adapter);
  });

  it('training is reproducible with a seed and stops on abort', async () => {
    const small = toyTaskSet({ tasks: 2, checkpoints: 2, dModel: 16, layers: 1 });
    const g1 = await AdapterGenerator.train(small.samples, { seed: 5, epochs: 2, batchSize: 2 });
    const g2 = await AdapterGenerator.train(small.samples, { seed: 5, epochs: 2, batchSize: 2 });
    expect(g1.generateFlat(small.conditions[1], 1)).toEqual(g2.generateFlat(small.conditions[1], 1));
    const controller = new AbortController();
    controller.abort(new Error('stop requested'));
    await expect(AdapterGenerator.train(small.samples, { epochs: 2, signal: controller.signal })).rejects.toThrow('stop requested');
    g1.dispose();
    g2.dispose();
    for (const s of small.samples) AdapterFactory.dispose(s.adapter);
  });
});

describe('AdapterGenerator at real size (38,912 values per adapter, as in bench:icm)', () => {
  it('each condition generates its own task: close to its checkpoints, far from the other task', { timeout: 120_000 }, async () => {
    await initBackend();
    // 19 layers × q/v × rank 4 × (128 + 128) = 38,912 values (padded to 40,960), task-specific random B factors (no local structure).
    const set = toyTaskSet({ tasks: 2, checkpoints: 4, dModel: 128, layers: 19, condDim: 64 });
    const progress: CvaeProgress[] = [];
    const sut = await AdapterGenerator.train(set.samples, {
      seed: 1,
      epochs: 12,
      batchSize: 4,
      architecture: { width: 16, latentDim: 32, condProjDim: 16, basisRank: 8 },
      onProgress: (p) => progress.push(p),
    });
    try {
      expect(sut.model.config.inputLength).toBe(40_960);
      expect(sut.state.layout.length).toBe(38_912);
      // Normalised residual MSE: 1.0 = always the centre (what the headless decoder ended at, 0.93).
      expect(progress.at(-1)!.mse).toBeLessThan(0.2);
      const means = taskMeans(set);
      const spread = rmsDiff(means[0], means[1]);
      for (let t = 0; t < 2; t++) {
        for (const seed of [5, 6]) {
          const flat = sut.generateFlat(set.conditions[t], seed);
          const own = rmsDiff(flat, means[t]);
          expect(own).toBeLessThan(0.25 * rmsDiff(flat, means[1 - t]));
          expect(own).toBeLessThan(0.25 * spread);
        }
      }
      // Round trip exact at real size (F16 basis and centre), and within bench:icm's storage budget:
      // 5 % of 6 tasks × 20 checkpoints of 38,912 F32 values.
      const bytes = serialiseGenerator(sut);
      expect(bytes.byteLength).toBeLessThan(0.05 * 6 * 20 * 38_912 * 4);
      const back = deserialiseGenerator(bytes).generator;
      expect(back.generateFlat(set.conditions[1], 9)).toEqual(sut.generateFlat(set.conditions[1], 9));
      back.dispose();
    } finally {
      sut.dispose();
      for (const s of set.samples) AdapterFactory.dispose(s.adapter);
    }
  });
});
