import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { disposeAdapter } from '../engine/lora-trainable.js';
import type { LoraAdapter } from '../engine/lora-types.js';
import { BasisGenerator } from './basis-generator.js';
import { deserialiseBasisGenerator, isBasisGeneratorFile, serialiseBasisGenerator } from './basis-generator-io.js';
import { flatLayoutOf, flattenAdapter, unflattenAdapter } from './flatten.js';
import { SeededRandom } from './random.js';
import { AdapterFactory } from './testing/adapter.factory.js';

await initBackend('cpu');

// Adapters whose factors are a known linear function of a 3-value condition, plus checkpoint noise.
const template = AdapterFactory.create({ layers: 2, dModel: 16, rank: 4 });
const layout = flatLayoutOf(template);
const rng = new SeededRandom(3);
const c0 = flattenAdapter(template, { normalise: false }).values;
const dirs = [0, 1, 2].map(() => rng.normals(layout.length).map((v) => 0.05 * v));
const truth = (cond: Float32Array) => c0.map((v, i) => v + cond[0] * dirs[0][i] + cond[1] * dirs[1][i] + cond[2] * dirs[2][i]);
const owned: LoraAdapter[] = [template];
const adapterOf = (values: Float32Array) => {
  const a = unflattenAdapter(values, layout);
  owned.push(a);
  return a;
};
const conditions = Array.from({ length: 8 }, () => rng.normals(3));
const sets = conditions.map((condition, t) => ({
  task: `t${t}`,
  condition,
  checkpoints: [0, 1, 2].map(() => adapterOf(truth(condition).map((v) => v + 0.001 * rng.normal()))),
}));
const meanOf = (t: number) => {
  const flats = sets[t].checkpoints.map((c) => flattenAdapter(c, { normalise: false }).values);
  return flats[0].map((_, i) => flats.reduce((s, f) => s + f[i], 0) / flats.length);
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

afterAll(() => owned.forEach(disposeAdapter));

describe('BasisGenerator', () => {
  it('gives a seen task its own checkpoints back (rank tasks − 1, float16, with interpolation)', () => {
    const sut = BasisGenerator.train(sets, { bits: 16, ridge: 0.05, interpolation: 0.5 });
    expect(sut.state.config.rank).toBe(7);
    for (const t of [0, 5]) expect(maxAbsDiff(sut.generateFlat(conditions[t], 1, 0), meanOf(t))).toBeLessThan(2e-3);
  });

  it('generalises to a condition it never saw when the adapters are linear in the condition', () => {
    const sut = BasisGenerator.train(sets, { rank: 3, bits: 16, ridge: 1e-6, interpolation: 0 });
    const unseen = Float32Array.from([0.3, -1.2, 0.7]);
    const err = maxAbsDiff(sut.generateFlat(unseen, 1, 0), truth(unseen));
    expect(err).toBeLessThan(5e-3);
    // The centre alone (what a generator that ignores the condition gives) is far off.
    expect(maxAbsDiff(sut.generateFlat(Float32Array.from(sut.state.condMean), 1, 0), truth(unseen))).toBeGreaterThan(20 * err);
  });

  it('samples around the coefficients with the checkpoints\' spread, deterministic in the seed', () => {
    const sut = BasisGenerator.train(sets, { bits: 8 });
    const a = sut.generateFlat(conditions[2], 11);
    expect(sut.generateFlat(conditions[2], 11)).toEqual(a);
    const b = sut.generateFlat(conditions[2], 12);
    expect(maxAbsDiff(a, b)).toBeGreaterThan(0);
    expect(maxAbsDiff(a, b)).toBeLessThan(0.02); // spread of 0.001-noise checkpoints, not of tasks
    expect(() => sut.generateFlat(new Float32Array(4), 1)).toThrow(/4 values, expected 3/);
  });

  it.each([4, 8, 16, 'nf4'] as const)('serialises to one file that reads back to the same generator (%i bits)', (bits) => {
    const sut = BasisGenerator.train(sets, { bits, rank: 5 });
    const bytes = serialiseBasisGenerator(sut, { version: '3' });
    expect(isBasisGeneratorFile(bytes)).toBe(true);
    const { generator, extra } = deserialiseBasisGenerator(bytes);
    expect(extra).toEqual({ version: '3' });
    expect(generator.generateFlat(conditions[1], 5)).toEqual(sut.generateFlat(conditions[1], 5));
    // Codes dominate the size: (rank + 1) × values × bits / 8.
    expect(bytes.byteLength).toBeGreaterThan((6 * layout.length * (bits === 'nf4' ? 4 : bits)) / 8);
    const adapter = generator.generate(conditions[1], 5);
    owned.push(adapter);
    expect([...adapter.modules.keys()]).toEqual([...template.modules.keys()]);
  });

  it('refuses too few tasks, a file of another kind and mismatched conditions', () => {
    expect(() => BasisGenerator.train(sets.slice(0, 1))).toThrow(/at least 2 tasks/);
    expect(() => BasisGenerator.train([sets[0], { ...sets[1], condition: new Float32Array(2) }])).toThrow(/same length/);
    expect(isBasisGeneratorFile(new Uint8Array(16))).toBe(false);
  });
});
