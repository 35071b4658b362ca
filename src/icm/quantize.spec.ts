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

  it.each([4, 8] as const)('keeps every value within half a step of its segment (%i bits), packed into %i-bit codes', (bits) => {
    const sut = quantise(values, segments, bits);
    expect(sut.codes.length).toBe(codeBytes(101, bits));
    const back = dequantise(sut, segments);
    const top = 2 ** (bits - 1) - 1;
    segments.forEach((s, k) => {
      const max = Math.max(...Array.from(values.subarray(s.offset, s.offset + s.length), Math.abs));
      expect(sut.scales[k]).toBeCloseTo(max / top, 6);
      for (let i = s.offset; i < s.offset + s.length; i++) expect(Math.abs(back[i] - values[i])).toBeLessThanOrEqual(sut.scales[k] / 2 + 1e-7);
    });
    // The largest value of each segment is represented exactly (up to float32 rounding).
    expect(Math.max(...Array.from(back.subarray(40), Math.abs))).toBeCloseTo(Math.max(...Array.from(values.subarray(40), Math.abs)), 5);
  });

  it('nf4 puts bell-shaped values nearer than uniform 4-bit levels do, in the same bytes', () => {
    const bell = rng.normals(4000);
    const seg = [{ offset: 0, length: bell.length }];
    const err = (bits: 4 | 'nf4') => {
      const q = quantise(bell, seg, bits);
      expect(q.codes.length).toBe(2000);
      const back = dequantise(q, seg);
      return Math.sqrt(bell.reduce((a, v, i) => a + (v - back[i]) ** 2, 0) / bell.length);
    };
    expect(err('nf4')).toBeLessThan(0.9 * err(4));
    const q = dequantise(quantise(Float32Array.from([-2, 0, 2]), [{ offset: 0, length: 3 }], 'nf4'), [{ offset: 0, length: 3 }]);
    expect(Array.from(q)).toEqual([-2, 0, 2]); // the extremes and zero are levels
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
