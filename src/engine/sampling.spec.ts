import { describe, expect, it } from 'vitest';
import { argmax, createRng, sampleToken, softmaxWithTemperature, topPFilter } from './sampling.js';

describe('sampling', () => {
  const probs = [0.05, 0.5, 0.1, 0.2, 0.15];
  const logits = probs.map(Math.log);

  it('top-p keeps the smallest most-probable set reaching p, renormalised', () => {
    const sut = topPFilter(probs, 0.8);
    expect(sut.ids).toEqual([1, 3, 4]); // 0.5 + 0.2 + 0.15 = 0.85 ≥ 0.8; 0.7 was not enough
    sut.probs.forEach((p, i) => expect(p).toBeCloseTo(probs[sut.ids[i]] / 0.85, 12));
    expect(topPFilter(probs, 0.7).ids).toEqual([1, 3]); // exactly 0.7 reaches p
    expect(topPFilter(probs, 0.3).ids).toEqual([1]);
  });

  it('samples the nucleus with the renormalised frequencies, never outside it', () => {
    const rng = createRng(42);
    const counts = new Array(5).fill(0);
    const n = 40_000;
    for (let i = 0; i < n; i++) counts[sampleToken(logits, { temperature: 1, topP: 0.8 }, rng)]++;
    expect(counts[0]).toBe(0);
    expect(counts[2]).toBe(0);
    // Binomial std ≤ √(0.25/n) ≈ 0.0025; allow 4σ.
    expect(Math.abs(counts[1] / n - 0.5 / 0.85)).toBeLessThan(0.01);
    expect(Math.abs(counts[3] / n - 0.2 / 0.85)).toBeLessThan(0.01);
    expect(Math.abs(counts[4] / n - 0.15 / 0.85)).toBeLessThan(0.01);
  });

  it('temperature sharpens or flattens softmax; temperature 0 is argmax', () => {
    const cold = softmaxWithTemperature(logits, 0.5);
    // p^(1/T) renormalised
    const z = probs.reduce((a, p) => a + p ** 2, 0);
    cold.forEach((p, i) => expect(p).toBeCloseTo(probs[i] ** 2 / z, 12));
    expect(sampleToken(logits, { temperature: 0 }, createRng(1))).toBe(1);
    expect(argmax([1, 3, 3, 2])).toBe(1);
  });

  it('is deterministic for a seed and rejects bad options', () => {
    const draw = (seed: number) => {
      const rng = createRng(seed);
      return Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 1.3, topP: 0.95 }, rng));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    expect(() => sampleToken(logits, { temperature: -1 }, createRng(1))).toThrow(/temperature/);
    expect(() => sampleToken(logits, { temperature: 1, topP: 0 }, createRng(1))).toThrow(/topP/);
  });
});
