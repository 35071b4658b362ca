import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers every tfjs-core gradient (see src/engine/gradients.ts)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { createRng } from './trainer.js';
import { cachedTransposeCount, installWasmKernels, transposeArray, uninstallWasmKernels, wasmKernelsInstalled } from './wasm-kernels.js';

const rng = createRng(99);
const randInt = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const randArray = (n: number) => Float32Array.from({ length: n }, () => rng() * 2 - 1);

/** Reference transpose from the definition: out[i_0..] = x[i_perm^-1 ...]. */
function refTranspose(x: ArrayLike<number>, shape: number[], perm: number[]): number[] {
  const outShape = perm.map((p) => shape[p]);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out: number[] = [];
  const n = shape.reduce((a, b) => a * b, 1);
  for (let o = 0; o < n; o++) {
    let rem = o;
    let src = 0;
    for (let ax = outShape.length - 1; ax >= 0; ax--) {
      const i = rem % outShape[ax];
      rem = Math.floor(rem / outShape[ax]);
      src += i * strides[perm[ax]];
    }
    out.push(x[src]);
  }
  return out;
}

function randomPerm(rank: number): number[] {
  const p = Array.from({ length: rank }, (_, i) => i);
  for (let i = rank - 1; i > 0; i--) {
    const j = randInt(0, i);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Float64 matmul of [batch, m, k] × [batch, k, n] with broadcast batch 1. */
function refMatMul(a: Float32Array, b: Float32Array, ba: number, bb: number, m: number, k: number, n: number): Float64Array {
  const batch = Math.max(ba, bb);
  const out = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++) {
    const ao = (ba === 1 ? 0 : z) * m * k;
    const bo = (bb === 1 ? 0 : z) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += a[ao + i * k + t] * b[bo + t * n + j];
        out[z * m * n + i * n + j] = s;
      }
    }
  }
  return out;
}

function swapLast(x: Float32Array, batch: number, r: number, c: number): Float32Array {
  return Float32Array.from(refTranspose(x, [batch, r, c], [0, 2, 1]));
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel = 1e-4): void {
  expect(got.length).toBe(want.length);
  let scale = 1e-6;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(rel * scale);
}

describe('transposeArray', () => {
  it('matches the definition on 300 random shapes and permutations (ranks 1-5, size-1 axes)', () => {
    for (let c = 0; c < 300; c++) {
      const rank = randInt(1, 5);
      const shape = Array.from({ length: rank }, () => randInt(1, 6));
      const perm = randomPerm(rank);
      const x = randArray(shape.reduce((a, b) => a * b, 1));
      const out = new Float32Array(x.length);
      transposeArray(x, shape, perm, out);
      expect([...out]).toEqual(refTranspose(x, shape, perm));
    }
  });
});

describe('wasm kernels', () => {
  beforeAll(async () => {
    const info = await initBackend('wasm');
    expect(info.name).toBe('wasm');
    expect(installWasmKernels()).toBe(true);
  });
  afterAll(() => {
    installWasmKernels();
  });

  it('are installed by initBackend on wasm', () => {
    expect(wasmKernelsInstalled()).toBe(true);
  });

  it('tf.transpose equals the definition for float32, int32 and bool', () => {
    for (const [shape, perm] of [
      [[128, 768], [1, 0]],
      [[2, 5, 3, 4], [0, 2, 1, 3]],
      [[3, 1, 4, 2], [3, 2, 0, 1]],
      [[7, 9, 5], [0, 2, 1]],
    ] as [number[], number[]][]) {
      const x = randArray(shape.reduce((a, b) => a * b, 1));
      const ref = refTranspose(x, shape, perm);
      const t = tf.tensor(x, shape);
      const ti = tf.tensor(Int32Array.from(x, (v) => Math.round(v * 100)), shape, 'int32');
      const tb = tf.tensor(Uint8Array.from(x, (v) => (v > 0 ? 1 : 0)), shape, 'bool');
      const [o, oi, ob] = [tf.transpose(t, perm), tf.transpose(ti, perm), tf.transpose(tb, perm)];
      expect(o.shape).toEqual(perm.map((p) => shape[p]));
      expect([...o.dataSync()]).toEqual(ref);
      expect([...oi.dataSync()]).toEqual(ref.map((v) => Math.round(v * 100) | 0));
      expect([...ob.dataSync()]).toEqual(ref.map((v) => (v > 0 ? 1 : 0)));
      tf.dispose([t, ti, tb, o, oi, ob]);
    }
  });

  it('tf.gather of rows equals the definition (float32, int32, bool, 2-D indices), other axes still work, bad indices throw', () => {
    const [rows, cols] = [9, 5];
    const x = randArray(rows * cols);
    const idx = [[3, 0, 8], [3, 3, 1]];
    const ref = idx.flat().flatMap((r) => [...x.subarray(r * cols, (r + 1) * cols)]);
    const t = tf.tensor2d(x, [rows, cols]);
    const ti = tf.tensor2d(Int32Array.from(x, (v) => Math.round(v * 100)), [rows, cols], 'int32');
    const tb = tf.tensor2d(Uint8Array.from(x, (v) => (v > 0 ? 1 : 0)), [rows, cols], 'bool');
    const ids = tf.tensor2d(idx, [2, 3], 'int32');
    const [o, oi, ob] = [tf.gather(t, ids), tf.gather(ti, ids), tf.gather(tb, ids)];
    expect(o.shape).toEqual([2, 3, cols]);
    expect([...o.dataSync()]).toEqual(ref);
    expect([...oi.dataSync()]).toEqual(ref.map((v) => Math.round(v * 100) | 0));
    expect([...ob.dataSync()]).toEqual(ref.map((v) => (v > 0 ? 1 : 0)));
    // Axis 1 goes to the backend's own kernel.
    const cols2 = tf.gather(t, tf.tensor1d([4, 0], 'int32'), 1);
    expect([...cols2.dataSync()]).toEqual(Array.from({ length: rows }, (_, r) => [x[r * cols + 4], x[r * cols]]).flat());
    const before = tf.memory().numTensors;
    expect(() => tf.gather(t, tf.tensor1d([1, rows], 'int32'))).toThrow(/index value 9/);
    expect(tf.memory().numTensors).toBe(before + 1); // only the index tensor, no orphaned output
    tf.dispose([t, ti, tb, ids, o, oi, ob, cols2]);
  });

  it('matMul with transpose flags equals the plain kernel on pre-transposed data, the float64 reference and the original kernel', () => {
    for (let c = 0; c < 24; c++) {
      const [m, k, n] = [randInt(1, 40), randInt(1, 40), randInt(1, 40)];
      const batched = c % 3 !== 0;
      const [ba, bb] = batched ? (c % 3 === 1 ? [3, 3] : [1, 4]) : [1, 1];
      const [tA, tB] = [c % 2 === 1, Math.floor(c / 2) % 2 === 1];
      const a = randArray(ba * m * k);
      const b = randArray(bb * k * n);
      const aStored = tA ? swapLast(a, ba, m, k) : a;
      const bStored = tB ? swapLast(b, bb, k, n) : b;
      const shapeOf = (batch: number, r: number, cc: number) => (batched ? [batch, r, cc] : [r, cc]);
      const ta = tf.tensor(aStored, tA ? shapeOf(ba, k, m) : shapeOf(ba, m, k));
      const tb = tf.tensor(bStored, tB ? shapeOf(bb, n, k) : shapeOf(bb, k, n));
      const plainA = tf.tensor(a, shapeOf(ba, m, k));
      const plainB = tf.tensor(b, shapeOf(bb, k, n));
      const sut = tf.matMul(ta, tb, tA, tB);
      const plain = tf.matMul(plainA, plainB);
      expect(sut.shape).toEqual(plain.shape);
      expect(sut.dataSync()).toEqual(plain.dataSync()); // same fast kernel, same bits
      expectClose(sut.dataSync(), refMatMul(a, b, ba, bb, m, k, n));
      uninstallWasmKernels();
      const original = tf.matMul(ta, tb, tA, tB);
      installWasmKernels();
      expectClose(sut.dataSync(), original.dataSync());
      tf.dispose([ta, tb, plainA, plainB, sut, plain, original]);
    }
  });

  it('a batched left operand times a shared matrix equals the 2-D product of the stacked rows, bit for bit', () => {
    const [batch, m, k, n] = [3, 7, 11, 5];
    const a = randArray(batch * m * k);
    const b = randArray(k * n);
    const sut = tf.matMul(tf.tensor3d(a, [batch, m, k]), tf.tensor2d(b, [k, n]));
    const flat = tf.matMul(tf.tensor2d(a, [batch * m, k]), tf.tensor2d(b, [k, n]));
    expect(sut.shape).toEqual([batch, m, n]);
    expect(sut.dataSync()).toEqual(flat.dataSync());
    expectClose(sut.dataSync(), refMatMul(a, b, batch, 1, m, k, n)); // broadcast reference
    const bT = tf.tensor3d(swapLast(b, 1, k, n), [1, n, k]);
    const sutT = tf.matMul(tf.tensor3d(a, [batch, m, k]), bT, false, true);
    expect(sutT.dataSync()).toEqual(flat.dataSync());
  });

  it('weight-gradient products Aᵀ·B with a wide B (computed as (Bᵀ·A)ᵀ) equal the float64 reference', () => {
    for (const [m, k, n] of [[8, 96, 200], [3, 40, 41], [1, 7, 64]]) {
      const a = randArray(m * k);
      const b = randArray(k * n);
      const sut = tf.matMul(tf.tensor2d(swapLast(a, 1, m, k), [k, m]), tf.tensor2d(b, [k, n]), true, false);
      expect(sut.shape).toEqual([m, n]);
      expectClose(sut.dataSync(), refMatMul(a, b, 1, 1, m, k, n));
      sut.dispose();
    }
  });

  it('caches the transposed copy of a reused right operand, per shape, and frees it with its source', () => {
    const backendIds = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const [m, k, n] = [6, 10, 4];
    const x = tf.tensor2d(randArray(m * k), [m, k]);
    const wData = randArray(n * k);
    const w = tf.tensor2d(wData, [n, k]); // used as xᵀ-free x·Wᵀ, like dX = dY·Wᵀ
    const plain = tf.matMul(x, tf.tensor2d(swapLast(wData, 1, n, k), [k, n]));
    const ids = backendIds();
    const before = cachedTransposeCount();
    const first = tf.matMul(x, w, false, true);
    expect(cachedTransposeCount()).toBe(before);
    const second = tf.matMul(x, w, false, true);
    const third = tf.matMul(x, w, false, true);
    expect(cachedTransposeCount()).toBe(before + 1);
    for (const r of [first, second, third]) expect(r.dataSync()).toEqual(plain.dataSync());
    // Same data, another shape: must not use the [n, k] copy.
    const reshaped = tf.reshape(w, [k, n]);
    const aData = randArray(3 * n);
    const a3 = tf.tensor2d(aData, [3, n]);
    const uses = [0, 1, 2].map(() => tf.matMul(a3, reshaped, false, true));
    for (const u of uses) expectClose(u.dataSync(), refMatMul(aData, swapLast(wData, 1, k, n), 1, 1, 3, n, k));
    const other = [a3, ...uses];
    tf.dispose([first, second, third, reshaped, ...other]);
    w.dispose();
    expect(cachedTransposeCount()).toBe(before);
    expect(backendIds()).toBe(ids - 1); // w's data and its cached copy are gone
    tf.dispose([x, plain]);
  });

  it('fused matMul (bias, relu) with transposeB equals the float64 reference', () => {
    const [m, k, n] = [5, 12, 7];
    const a = randArray(m * k);
    const b = randArray(k * n);
    const bias = randArray(n);
    const sut = tf.fused.matMul({
      a: tf.tensor2d(a, [m, k]),
      b: tf.tensor2d(swapLast(b, 1, k, n), [n, k]),
      transposeB: true,
      bias: tf.tensor1d(bias),
      activation: 'relu',
    });
    const ref = refMatMul(a, b, 1, 1, m, k, n).map((v, i) => Math.max(0, v + bias[i % n]));
    expectClose(sut.dataSync(), ref);
  });

  it('matMul gradients (which use the transposed forms) equal the float64 reference', () => {
    const [m, k, n] = [6, 9, 4];
    const a = randArray(m * k);
    const b = randArray(k * n);
    const dy = randArray(m * n);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), tf.tensor2d(dy, [m, n]))))([
      tf.tensor2d(a, [m, k]),
      tf.tensor2d(b, [k, n]),
    ]);
    // dA = dy·Bᵀ, dB = Aᵀ·dy
    expectClose(ga.dataSync(), refMatMul(dy, swapLast(b, 1, k, n), 1, 1, m, n, k));
    expectClose(gb.dataSync(), refMatMul(swapLast(a, 1, m, k), dy, 1, 1, k, m, n));
  });

  it('measures the speedup (printed, not asserted)', () => {
    const time = (f: () => tf.Tensor, reps = 5) => {
      f().dispose();
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) {
        const t = f();
        t.dataSync();
        t.dispose();
      }
      return (performance.now() - t0) / reps;
    };
    const x = tf.randomNormal([128, 768]);
    const w = tf.randomNormal([512, 768]);
    const x3 = tf.randomNormal([8, 48, 128]);
    const w2 = tf.randomNormal([128, 384]);
    const q = tf.randomNormal([32, 48, 32]);
    const measure = () => ({
      transpose: time(() => tf.transpose(x)),
      matMulTB: time(() => tf.matMul(x, w, false, true)),
      folded: time(() => tf.matMul(x3, w2)),
      attention: time(() => tf.matMul(q, q, false, true)),
    });
    const fast = measure();
    uninstallWasmKernels();
    const slow = measure();
    installWasmKernels();
    console.log(
      `wasm kernels: transpose 128x768 ${slow.transpose.toFixed(2)} → ${fast.transpose.toFixed(2)} ms; ` +
        `matMul 128x768·(512x768)ᵀ ${slow.matMulTB.toFixed(1)} → ${fast.matMulTB.toFixed(1)} ms; ` +
        `[8,48,128]·[128,384] ${slow.folded.toFixed(1)} → ${fast.folded.toFixed(1)} ms; ` +
        `[32,48,32]·[32,48,32]ᵀ ${slow.attention.toFixed(1)} → ${fast.attention.toFixed(1)} ms`,
    );
    tf.dispose([x, w, x3, w2, q]);
  });
});
