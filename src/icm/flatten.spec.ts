import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import {
  flatLayoutOf,
  flattenAdapter,
  pooledTensorStats,
  sortedModuleNames,
  tensorStats,
  unflattenAdapter,
} from './flatten.js';
import { AdapterFactory } from './testing/adapter.factory.js';

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

function refStats(values: Float64Array) {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const std = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
  return { mean, std };
}

function expectSameAdapter(actual: LoraAdapter, expected: LoraAdapter, tolerance: number) {
  expect(actual.rank).toBe(expected.rank);
  expect(actual.alpha).toBe(expected.alpha);
  expect(actual.targetModules).toEqual(expected.targetModules);
  expect(sortedModuleNames(actual)).toEqual(sortedModuleNames(expected));
  for (const [name, w] of expected.modules) {
    for (const f of ['a', 'b'] as const) {
      const got = actual.modules.get(name)![f];
      expect(got.shape).toEqual(w[f].shape);
      const x = got.dataSync(), y = w[f].dataSync();
      if (tolerance === 0) expect(Buffer.from(x.buffer).equals(Buffer.from(y.buffer))).toBe(true);
      else for (let i = 0; i < x.length; i++) expect(Math.abs(x[i] - y[i])).toBeLessThanOrEqual(tolerance);
    }
  }
}

describe('flattenAdapter / unflattenAdapter', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('round-trips bit for bit without normalisation, padding with zeros', () => {
    const adapter = AdapterFactory.create({ layers: 3, dModel: 12, rank: 4, seed: Date.now() % 1000 });
    const sut = flattenAdapter(adapter, { normalise: false, multipleOf: 64 });
    expect(sut.layout.length).toBe(3 * 2 * 2 * 12 * 4);
    expect(sut.layout.paddedLength % 64).toBe(0);
    expect(sut.values.length).toBe(sut.layout.paddedLength);
    expect([...sut.values.subarray(sut.layout.length)].every((v) => v === 0)).toBe(true);
    expectSameAdapter(unflattenAdapter(sut.values, sut.layout), adapter, 0);
  });

  it('z-scores each tensor exactly as the float64 definition and restores values and statistics', () => {
    const adapter = AdapterFactory.create({ layers: 2, dModel: 20, rank: 8, seed: 7 + (Date.now() % 1000) });
    const sut = flattenAdapter(adapter, { multipleOf: 32 });
    for (const [i, entry] of sut.layout.entries.entries()) {
      const raw = f64(adapter.modules.get(entry.module)![entry.factor].dataSync());
      const ref = refStats(raw);
      expect(sut.stats[i].mean).toBeCloseTo(ref.mean, 10);
      expect(sut.stats[i].std).toBeCloseTo(ref.std, 10);
      const normalised = sut.values.subarray(entry.offset, entry.offset + entry.length);
      for (let j = 0; j < raw.length; j++) expect(Math.abs(normalised[j] - (raw[j] - ref.mean) / ref.std)).toBeLessThan(1e-5);
      // Every normalised tensor has mean 0 and std 1.
      const z = refStats(f64(normalised));
      expect(Math.abs(z.mean)).toBeLessThan(1e-6);
      expect(Math.abs(z.std - 1)).toBeLessThan(1e-5);
    }
    const back = unflattenAdapter(sut.values, sut.layout, sut.stats);
    expectSameAdapter(back, adapter, 1e-6);
    // The restored tensors carry the original statistics.
    for (const entry of sut.layout.entries) {
      const got = refStats(f64(back.modules.get(entry.module)![entry.factor].dataSync()));
      const want = refStats(f64(adapter.modules.get(entry.module)![entry.factor].dataSync()));
      expect(Math.abs(got.mean - want.mean)).toBeLessThan(1e-7);
      expect(Math.abs(got.std - want.std) / want.std).toBeLessThan(1e-6);
    }
  });

  it('guards std = 0: a zero tensor (B at init) normalises to zeros and comes back exactly', () => {
    const adapter = AdapterFactory.create({ zeroB: true });
    const sut = flattenAdapter(adapter);
    const bEntries = sut.layout.entries.filter((e) => e.factor === 'b');
    for (const entry of bEntries) {
      expect(sut.stats[sut.layout.entries.indexOf(entry)]).toEqual({ mean: 0, std: 1 });
      expect([...sut.values.subarray(entry.offset, entry.offset + entry.length)].every((v) => v === 0)).toBe(true);
    }
    const back = unflattenAdapter(sut.values, sut.layout, sut.stats);
    for (const entry of bEntries) expect([...back.modules.get(entry.module)!.b.dataSync()].every((v) => v === 0)).toBe(true);
    expect(Number.isFinite(tensorStats(new Float32Array([3, 3, 3])).std)).toBe(true);
  });

  it('orders modules stably (natural order, A before B) whatever the insertion order', () => {
    const adapter = AdapterFactory.create({ layers: 11, dModel: 4, rank: 2 });
    const shuffled = { ...adapter, modules: new Map([...adapter.modules].reverse()) };
    const keys = flatLayoutOf(shuffled).entries.map((e) => e.key);
    expect(keys[0]).toBe('model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(keys[1]).toBe('model.layers.0.self_attn.q_proj.lora_B.weight');
    expect(keys.indexOf('model.layers.10.self_attn.q_proj.lora_A.weight')).toBeGreaterThan(
      keys.indexOf('model.layers.9.self_attn.v_proj.lora_B.weight'),
    );
    expect(flattenAdapter(shuffled).values).toEqual(flattenAdapter(adapter).values);
  });

  it('normalises with given (pooled) statistics, and pooled stats match the float64 definition', () => {
    const adapters = [1, 2, 3].map((seed) => AdapterFactory.create({ seed }));
    const pooled = pooledTensorStats(adapters);
    const layout = flatLayoutOf(adapters[0]);
    layout.entries.forEach((entry, i) => {
      const all = f64(adapters.flatMap((a) => [...a.modules.get(entry.module)![entry.factor].dataSync()]));
      const ref = refStats(all);
      expect(pooled[i].mean).toBeCloseTo(ref.mean, 10);
      expect(pooled[i].std).toBeCloseTo(ref.std, 10);
    });
    const sut = flattenAdapter(adapters[1], { stats: pooled });
    expect(sut.stats).toEqual(pooled);
    expectSameAdapter(unflattenAdapter(sut.values, sut.layout, pooled), adapters[1], 1e-6);
    expect(() => pooledTensorStats([adapters[0], AdapterFactory.create({ rank: 2 })])).toThrow(/layout/);
  });
});
