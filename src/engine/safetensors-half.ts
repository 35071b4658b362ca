/** IEEE 754 half (F16) and bfloat16 (BF16) bit conversions for the safetensors codec. */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Decodes IEEE half-precision bits to a number (exact: every half is a float32). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero or subnormal
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Encodes a float32 value as IEEE half bits, rounding to nearest even; overflow goes to ±Inf. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    const m = mant | 0x800000; // implicit leading one
    const shift = 14 - e;
    return sign | roundShift(m, shift);
  }
  // Rounding may carry into the exponent, which is exactly the right result (up to Inf).
  return sign | ((e << 10) + roundShift(mant, 13));
}

/** Encodes a float32 value as bfloat16 bits, rounding to nearest even; NaN stays NaN. */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

// value >> shift, rounded to nearest, ties to even.
function roundShift(value: number, shift: number): number {
  const q = value >>> shift;
  const rem = value - q * 2 ** shift;
  const half = 2 ** (shift - 1);
  return rem > half || (rem === half && q & 1) ? q + 1 : q;
}
