import { describe, expect, it } from 'vitest';
import { f16ToF32, f32ToF16 } from '../engine/safetensors-half.js';
import { codeBytes, dequantise, quantise } from './quantize.js';
import { SeededRandom } from './random.js';

describe('quantise / dequantise', () => {
  const rng = new SeededRandom(7);
  const values = Float32Array.from(rng.normals(101), (v, i) => (i < 40 ? v * 0.01 : v * 3)); // two scales of values
  const segments = [
    { offset: 0, length: 40 },
    { offset: 40, length: 61 },
  ];

  it.each([4, 8] as const)('picks the clipped scale with the least squared error, never worse than absmax (%i bits)', (bits) => {
    const sut = quantise(values, segments, bits);
    expect(sut.codes.length).toBe(codeBytes(101, bits));
    const back = dequantise(sut, segments);
    const top = 2 ** (bits - 1) - 1;
    segments.forEach((s, k) => {
      const seg = Array.from(values.subarray(s.offset, s.offset + s.length));
      const max = Math.max(...seg.map(Math.abs));
      // Reference: plain absmax rounding, from the definition.
      const plain = seg.map((v) => Math.round(v / (max / top)) * (max / top));
      const sq = (xs: number[]) => xs.reduce((a, v, i) => a + (v - seg[i]) ** 2, 0);
      expect(sq(Array.from(back.subarray(s.offset, s.offset + s.length)))).toBeLessThanOrEqual(sq(plain) * (1 + 1e-5));
      expect(sut.scales[k]).toBeLessThanOrEqual((max / top) * (1 + 1e-6));
      expect(sut.scales[k]).toBeGreaterThanOrEqual(((0.5 * max) / top) * (1 - 1e-6));
      // Within half a step, or clipped to the largest level.
      seg.forEach((v, i) => expect(Math.abs(back[s.offset + i] - v)).toBeLessThanOrEqual(Math.max(sut.scales[k] / 2, Math.abs(v) - top * sut.scales[k]) + 1e-6));
    });
  });

  it('nf4 maps every value to the nearest NormalFloat level times the absmax, two codes a byte', () => {
    const bell = rng.normals(4001);
    const seg = [{ offset: 0, length: bell.length }];
    const q = quantise(bell, seg, 'nf4');
    expect(q.codes.length).toBe(2001);
    const max = Math.max(...Array.from(bell, Math.abs));
    expect(q.scales[0]).toBe(Math.fround(max));
    const back = dequantise(q, seg);
    // The widest gap between NF4 levels is 1 − 0.6962 (at −1): no value is further than half of it (× absmax).
    bell.forEach((v, i) => expect(Math.abs(back[i] - v)).toBeLessThanOrEqual(((1 - 0.6961928009986877) / 2) * max + 1e-6));
    const ends = dequantise(quantise(Float32Array.from([-2, 0, 2]), [{ offset: 0, length: 3 }], 'nf4'), [{ offset: 0, length: 3 }]);
    expect(Array.from(ends)).toEqual([-2, 0, 2]); // the extremes and zero are levels
  });

  it('stores 16 bits as float16, exactly what f32ToF16 gives', () => {
    const back = dequantise(quantise(values, segments, 16), segments);
    values.forEach((v, i) => expect(back[i]).toBe(f16ToF32(f32ToF16(v))));
  });

  it('refuses segments that do not cover the vector and unknown bit widths', () => {
    expect(() => quantise(values, [{ offset: 0, length: 100 }], 8)).toThrow(/cover 100 values/);
    expect(() => quantise(values, [{ offset: 1, length: 100 }], 8)).toThrow(/without gaps/);
    expect(() => quantise(values, segments, 3 as 4)).toThrow(/bits must be/);
    expect(() => dequantise({ ...quantise(values, segments, 8), scales: new Float32Array(1) }, segments)).toThrow(/2 scales/);
  });
});
