import { describe, expect, it } from 'vitest';
import { f16ToF32, f32ToBf16, f32ToF16 } from './safetensors-half.js';
import { parseSafetensors, SafetensorsError, serializeSafetensors, type SafetensorsTensor } from './safetensors.js';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Builds a file by hand from a header object and raw data, independent of the writer. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => v.setFloat32(4 * i, x, true));
  return out;
}

function reasonOf(bytes: Uint8Array): string {
  try {
    parseSafetensors(bytes);
  } catch (error) {
    if (error instanceof SafetensorsError) return error.reason;
    throw error;
  }
  return 'parsed';
}

describe('safetensors reader', () => {
  it('reads a hand-built file with metadata, unsorted header keys and a zero-size tensor', () => {
    const header = {
      b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] },
      empty: { shape: [0, 3], dtype: 'F32', data_offsets: [12, 12] },
      __metadata__: { format: 'pt' },
      a: { data_offsets: [0, 12], dtype: 'F32', shape: [3, 1] },
    };
    const sut = parseSafetensors(rawFile(header, f32Bytes([1, 2, 3, -4.5, 1e-3])));
    expect(sut.metadata).toEqual({ format: 'pt' });
    expect([...sut.tensors.keys()]).toEqual(['a', 'empty', 'b']);
    expect(sut.tensors.get('a')).toEqual({ shape: [3, 1], dtype: 'F32', data: new Float32Array([1, 2, 3]) });
    expect(sut.tensors.get('b')!.data).toEqual(new Float32Array([-4.5, 1e-3]));
    expect(sut.tensors.get('empty')!.data.length).toBe(0);
  });

  it('widens F16 and BF16 to float32 exactly', () => {
    const data = new Uint8Array(8);
    const v = new DataView(data.buffer);
    [0x3c00, 0xc000].forEach((h, i) => v.setUint16(2 * i, h, true)); // F16: 1, -2
    [0x3f80, 0xc0a0].forEach((h, i) => v.setUint16(4 + 2 * i, h, true)); // BF16: 1, -5
    const sut = parseSafetensors(
      rawFile({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] } }, data),
    );
    expect(sut.tensors.get('h')!.data).toEqual(new Float32Array([1, -2]));
    expect(sut.tensors.get('b')!.data).toEqual(new Float32Array([1, -5]));
  });

  const t = (o: Partial<{ dtype: unknown; shape: unknown; data_offsets: unknown }>) => ({
    dtype: 'F32',
    shape: [2],
    data_offsets: [0, 8],
    ...o,
  });
  const eight = f32Bytes([1, 2]);
  const cases: [string, Uint8Array, RegExp][] = [
    ['short file', new Uint8Array(5), /shorter than the 8-byte/],
    ['header length past the file', rawFile({ x: t({}) }, eight, 10_000n), /exceeds the \d+ bytes after it/],
    ['header length 2^63', rawFile({}, eight, 2n ** 63n), /exceeds/],
    ['not JSON', rawFile('{"x": ', eight), /not valid JSON/],
    ['not UTF-8', rawFile('{"\xff"}', eight).map((b, i) => (i === 10 ? 0xff : b)), /UTF-8|JSON/],
    ['JSON array', rawFile('[1,2]', eight), /does not start with "\{"|not a JSON object/],
    ['metadata not strings', rawFile({ __metadata__: { a: 1 }, x: t({}) }, eight), /__metadata__\["a"\] is not a string/],
    ['unsupported dtype named', rawFile({ x: t({ dtype: 'I64', shape: [1] }) }, eight), /unsupported dtype I64/],
    ['unknown dtype', rawFile({ x: t({ dtype: 'Q9' }) }, eight), /unknown dtype Q9/],
    ['negative shape', rawFile({ x: t({ shape: [-2] }) }, eight), /not a non-negative integer/],
    ['fractional shape', rawFile({ x: t({ shape: [1.5] }) }, eight), /not a non-negative integer/],
    ['huge shape', rawFile({ x: t({ shape: [1e9, 1e9, 1e9] }) }, eight), /needs more bytes/],
    ['size mismatch', rawFile({ x: t({ shape: [1] }) }, eight), /has 8 bytes but F32 \[1\] needs 4/],
    ['offsets past data', rawFile({ x: t({ data_offsets: [8, 16] }) }, eight), /past the 8-byte data section/],
    ['offsets reversed', rawFile({ x: t({ data_offsets: [8, 0] }) }, eight), /begin 8 > end 0/],
    ['overlap', rawFile({ x: t({}), y: t({ shape: [1], data_offsets: [4, 8] }) }, eight), /overlaps/],
    ['gap', rawFile({ x: t({ shape: [1], data_offsets: [4, 8] }) }, eight), /gap of 4 bytes/],
    ['trailing bytes', rawFile({ x: t({ shape: [1], data_offsets: [0, 4] }) }, eight), /cover 4 bytes but the data section has 8/],
    ['extra entry key', rawFile({ x: { ...t({}), extra: 1 } }, eight), /exactly dtype, shape, data_offsets/],
    ['bad name', rawFile({ 'a b': t({}) }, eight), /name "a b" is not allowed/],
    ['empty name', rawFile({ '': t({}) }, eight), /name "" is not allowed/],
  ];
  it.each(cases)('rejects %s with a clear reason', (_name, bytes, reason) => {
    expect(reasonOf(bytes)).toMatch(reason);
  });

  it('keeps a "__proto__" metadata key as plain data', () => {
    const sut = parseSafetensors(rawFile('{"__metadata__":{"__proto__":"x"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', eight));
    expect(Object.getPrototypeOf(sut.metadata)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(sut.metadata, '__proto__')?.value).toBe('x');
  });
});

describe('safetensors writer', () => {
  const tensors: Record<string, SafetensorsTensor> = {
    'z.weight': { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
    'a.bias': { shape: [3], data: new Float32Array([0.5, -0.25, 7]) },
    scalar: { shape: [], data: new Float32Array([42]) },
  };

  it('round-trips exactly, with sorted keys, metadata first and an 8-byte aligned data section', () => {
    const bytes = serializeSafetensors(tensors, { format: 'pt', b: 'x' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const json = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
    expect(json.indexOf('__metadata__')).toBeLessThan(json.indexOf('a.bias'));
    expect(json.indexOf('a.bias')).toBeLessThan(json.indexOf('scalar'));
    expect(json.indexOf('scalar')).toBeLessThan(json.indexOf('z.weight'));
    const sut = parseSafetensors(bytes);
    expect(sut.metadata).toEqual({ b: 'x', format: 'pt' });
    for (const [name, t] of Object.entries(tensors)) expect(sut.tensors.get(name)).toEqual({ ...t, dtype: 'F32' });
  });

  it('reads F32 tensors from a Node Buffer (as readFileSync returns) as from a Uint8Array', () => {
    const bytes = serializeSafetensors(tensors);
    // A Buffer view into a larger pool: Buffer#slice() returns a view, not a copy.
    const pool = Buffer.alloc(bytes.length + 64);
    pool.set(bytes, 32);
    const sut = parseSafetensors(pool.subarray(32, 32 + bytes.length));
    for (const [name, t] of Object.entries(tensors)) expect(sut.tensors.get(name)?.data).toEqual(t.data);
  });

  it('is deterministic regardless of insertion order', () => {
    const reversed = Object.fromEntries(Object.entries(tensors).reverse());
    expect(serializeSafetensors(reversed, { b: 'x', a: 'y' })).toEqual(serializeSafetensors(tensors, { a: 'y', b: 'x' }));
  });

  it('writes F16 and BF16 rounded to nearest even', () => {
    const data = new Float32Array([1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, -3.14159]);
    const sut = parseSafetensors(
      serializeSafetensors({ h: { shape: [5], data, dtype: 'F16' }, b: { shape: [5], data, dtype: 'BF16' } }),
    );
    // Ties: 1+2^-11 sits halfway between 1 and 1+2^-10 and goes to the even 1; 65520 overflows half.
    expect([...sut.tensors.get('h')!.data]).toEqual([1, 1, 1 + 2 ** -9, Infinity, -3.140625]);
    expect([...sut.tensors.get('b')!.data]).toEqual([1, 1, 1, 65536, -3.140625]);
  });

  it('reads and writes U8 only where the caller asks for it (default: float dtypes only)', () => {
    const bytes = serializeSafetensors({ q: { shape: [3], data: new Float32Array([0, 7, 255]), dtype: 'U8' } });
    expect(parseSafetensors(bytes, { dtypes: ['F32', 'U8'] }).tensors.get('q')).toEqual({ shape: [3], dtype: 'U8', data: new Float32Array([0, 7, 255]) });
    expect(() => parseSafetensors(bytes)).toThrow(/unsupported dtype U8 \(supported: F32, F16, BF16\)/);
    expect(() => serializeSafetensors({ q: { shape: [1], data: new Float32Array([256]), dtype: 'U8' } })).toThrow(/not an integer in 0..255/);
    expect(() => serializeSafetensors({ q: { shape: [1], data: new Float32Array([0.5]), dtype: 'U8' } })).toThrow(/not an integer/);
  });

  it('refuses a shape that does not match the data', () => {
    expect(() => serializeSafetensors({ x: { shape: [4], data: new Float32Array(3) } })).toThrow(SafetensorsError);
  });
});

describe('half-precision conversions', () => {
  // Float64 reference from the IEEE 754 definition of binary16.
  const refHalf = (h: number): number => {
    const s = h >> 15 ? -1 : 1;
    const e = (h >> 10) & 31;
    const f = h & 1023;
    if (e === 31) return f ? NaN : s * Infinity;
    return e === 0 ? s * (f / 1024) * 2 ** -14 : s * (1 + f / 1024) * 2 ** (e - 15);
  };

  it('decodes all 65,536 F16 patterns and re-encodes every non-NaN one to itself', () => {
    for (let h = 0; h < 65536; h++) {
      const x = f16ToF32(h);
      expect(Object.is(x, refHalf(h)) || (Number.isNaN(x) && Number.isNaN(refHalf(h)))).toBe(true);
      if (!Number.isNaN(x)) expect(f32ToF16(x)).toBe(h);
    }
  });

  it('encodes random float32 values to the nearest half (float64 search reference)', () => {
    const finite = Array.from({ length: 0x7c00 }, (_, h) => refHalf(h)); // non-negative finite halves
    const rand = mulberry32(7);
    for (let i = 0; i < 2000; i++) {
      const x = Math.fround((rand() - 0.5) * 2 ** (Math.floor(rand() * 40) - 26));
      const got = f16ToF32(f32ToF16(x));
      const ax = Math.abs(x);
      if (ax > 65504) continue;
      const best = finite.reduce((b, v) => (Math.abs(v - ax) < Math.abs(b - ax) ? v : b), 0);
      expect(Math.abs(Math.abs(got) - ax)).toBe(Math.abs(best - ax));
    }
  });

  it('encodes BF16 by rounding the float32 bits to nearest even', () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(-2)).toBe(0xc000);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie, even stays
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie, odd rounds up
    expect(f32ToBf16(NaN) & 0x7fc0).toBe(0x7fc0);
  });
});

describe('safetensors fuzz', () => {
  it('gives 1,500 seeded mutated files either a valid parse or a SafetensorsError, quickly', () => {
    const rand = mulberry32(20240611);
    const int = (n: number) => Math.floor(rand() * n);
    const weird: unknown[] = [-1, 0, 1, 2, 3.5, 1e308, 2 ** 53, 2 ** 31, '4', null, [], {}, true, 'F64', 'BF16', 'F16', [1, 2], [0, 0]];
    const base = serializeSafetensors(
      {
        w: { shape: [3, 4], data: new Float32Array(12).map((_, i) => i) },
        h: { shape: [5], data: new Float32Array(5).fill(0.5), dtype: 'F16' },
        b: { shape: [2, 1], data: new Float32Array([1, 2]), dtype: 'BF16' },
      },
      { format: 'pt' },
    );
    const headerLength = Number(new DataView(base.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(base.subarray(8, 8 + headerLength))) as Record<string, Record<string, unknown>>;
    const data = base.subarray(8 + headerLength);
    let parsed = 0;
    let worstMs = 0;
    for (let c = 0; c < 1500; c++) {
      let bytes: Uint8Array;
      const kind = c % 5;
      if (kind === 0) {
        // Byte-level: flip, overwrite or truncate anywhere (including the length prefix).
        bytes = base.slice();
        for (let k = 1 + int(4); k > 0; k--) bytes[int(bytes.length)] = int(256);
        if (rand() < 0.3) bytes = bytes.subarray(0, int(bytes.length));
      } else if (kind === 1) {
        // JSON-level: set a random field of a random tensor to a weird value.
        const h = structuredClone(header);
        const names = Object.keys(h).filter((n) => n !== '__metadata__');
        const entry = h[names[int(names.length)]];
        const field = ['dtype', 'shape', 'data_offsets'][int(3)];
        if (rand() < 0.5) entry[field] = weird[int(weird.length)];
        else if (Array.isArray(entry[field])) (entry[field] as unknown[])[int(3)] = weird[int(weird.length)];
        bytes = rawFile(h, data);
      } else if (kind === 2) {
        // Length prefix lies (small or huge values).
        const lie = rand() < 0.5 ? BigInt(int(headerLength * 2)) : BigInt(int(2 ** 30)) * BigInt(int(2 ** 30) + 1);
        bytes = rawFile(header, data, lie);
      } else if (kind === 3) {
        // Data section resized; offsets now disagree.
        const extra = int(9) - 4;
        const d = extra >= 0 ? new Uint8Array([...data, ...new Uint8Array(extra)]) : data.subarray(0, data.length + extra);
        bytes = rawFile(header, d);
      } else {
        // Random bytes after a plausible length prefix.
        const noise = new Uint8Array(8 + int(200)).map(() => int(256));
        new DataView(noise.buffer).setBigUint64(0, BigInt(int(noise.length)), true);
        bytes = noise;
      }
      const t0 = performance.now();
      try {
        const sut = parseSafetensors(bytes);
        for (const t of sut.tensors.values()) expect(t.data.length).toBe(t.shape.reduce((p, d) => p * d, 1));
        parsed++;
      } catch (error) {
        if (!(error instanceof SafetensorsError)) throw new Error(`case ${c}: non-SafetensorsError ${String(error)}`);
      }
      worstMs = Math.max(worstMs, performance.now() - t0);
    }
    expect(worstMs).toBeLessThan(250);
    // The harness must exercise both outcomes, or it tests nothing.
    expect(parsed).toBeGreaterThan(0);
    expect(parsed).toBeLessThan(1500);
  });
});
