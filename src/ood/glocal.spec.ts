import { describe, expect, it } from 'vitest';
import { fitLayerStats, glocalLayerScore, ledoitWolfShrinkage, mahalanobisSq, maxCosine } from './glocal.js';
import { OodRandom } from './random.js';

// ---- float64 reference written from the definitions, with explicit d×d matrices ----
function refStats(xs: number[][], lambdaFixed?: number): { mean: number[]; sigma: number[][]; lambda: number } {
  const n = xs.length;
  const d = xs[0].length;
  const mean = Array.from({ length: d }, (_, k) => xs.reduce((s, x) => s + x[k], 0) / n);
  const xc = xs.map((x) => x.map((v, k) => v - mean[k]));
  const s = Array.from({ length: d }, (_, i) =>
    Array.from({ length: d }, (_, j) => xc.reduce((acc, x) => acc + x[i] * x[j], 0) / n));
  const mu = s.reduce((acc, row, i) => acc + row[i], 0) / d;
  // Ledoit–Wolf (2004): δ² = ‖S − μI‖²/d, b̄² = (1/n²)·Σ_k ‖x_k x_kᵀ − S‖²/d, λ = min(b̄², δ²)/δ².
  let dist = 0;
  let bsum = 0;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      dist += (s[i][j] - (i === j ? mu : 0)) ** 2;
      for (const x of xc) bsum += (x[i] * x[j] - s[i][j]) ** 2;
    }
  }
  const delta2 = dist / d;
  const b2 = Math.min(bsum / (n * n * d), delta2);
  const lambda = lambdaFixed ?? (delta2 === 0 ? 1 : b2 / delta2);
  const sigma = s.map((row, i) => row.map((v, j) => (1 - lambda) * v + (i === j ? lambda * mu : 0)));
  return { mean, sigma, lambda };
}

function invert(m: number[][]): number[][] {
  const d = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: d }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    const piv = a[c][c];
    for (let k = 0; k < 2 * d; k++) a[c][k] /= piv;
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = a[r][c];
      for (let k = 0; k < 2 * d; k++) a[r][k] -= f * a[c][k];
    }
  }
  return a.map((row) => row.slice(d));
}

function refMahalanobis(x: number[], mean: number[], prec: number[][]): number {
  const v = x.map((val, k) => val - mean[k]);
  return v.reduce((acc, vi, i) => acc + vi * prec[i].reduce((s, p, j) => s + p * v[j], 0), 0);
}

const refCos = (x: number[], y: number[]): number =>
  x.reduce((s, v, k) => s + v * y[k], 0) / Math.hypot(...x) / Math.hypot(...y);

function sample(rng: OodRandom, n: number, d: number, shift = 0): number[][] {
  // Anisotropic data with a common offset, like hidden states.
  return Array.from({ length: n }, () => Array.from({ length: d }, (_, k) => shift + (1 + k % 3) * rng.normal()));
}

describe('glocal statistics', () => {
  it('known data: an isotropic cross has Σ = ½·I, so Mahalanobis²([1, 1]) = 4', () => {
    const sut = fitLayerStats([[1, 0], [-1, 0], [0, 1], [0, -1]]);
    expect(mahalanobisSq(sut, [1, 1])).toBeCloseTo(4, 6);
    expect(mahalanobisSq(sut, [0, 0])).toBeCloseTo(0, 9);
  });

  for (const [n, d] of [[5, 7], [12, 6], [10, 64]] as const) {
    it(`Ledoit–Wolf intensity and Mahalanobis match the float64 d×d reference (n=${n}, d=${d})`, () => {
      const rng = new OodRandom(n * 100 + d);
      const xs = sample(rng, n, d, 2);
      const ref = refStats(xs);
      const prec = invert(ref.sigma);
      const mean = xs[0].map((_, k) => xs.reduce((s, x) => s + x[k], 0) / n);
      const centred = xs.map((x) => x.map((v, k) => v - mean[k]));
      expect(ledoitWolfShrinkage(centred, d)).toBeCloseTo(ref.lambda, 10);
      const sut = fitLayerStats(xs.map((x) => Float32Array.from(x)));
      expect(sut.shrinkage).toBeCloseTo(ref.lambda, 6);
      for (const q of [...sample(rng, 3, d, 2), ...sample(rng, 2, d, -1), xs[0]]) {
        const want = refMahalanobis(q, ref.mean, prec);
        // Features are stored as float32: 1e-4 relative tolerance.
        expect(Math.abs(mahalanobisSq(sut, q) - want)).toBeLessThan(1e-4 * Math.max(1, want));
      }
    });
  }

  it('a fixed shrinkage intensity gives (1−λ)·S + λ·(tr S/d)·I', () => {
    const rng = new OodRandom(3);
    const xs = sample(rng, 6, 9, 1);
    const ref = refStats(xs, 0.3);
    const prec = invert(ref.sigma);
    const sut = fitLayerStats(xs, { shrinkage: 0.3 });
    const q = sample(rng, 1, 9, 0)[0];
    const want = refMahalanobis(q, ref.mean, prec);
    expect(Math.abs(mahalanobisSq(sut, q) - want)).toBeLessThan(1e-4 * want);
    expect(() => fitLayerStats(xs, { shrinkage: 1.5 })).toThrow();
  });

  it('a single feature vector gets a finite, positive precision (variance floor)', () => {
    const sut = fitLayerStats([[1, 2, 3]]);
    expect(sut.a).toBeGreaterThan(0);
    expect(mahalanobisSq(sut, [1, 2, 3])).toBe(0);
    expect(Number.isFinite(mahalanobisSq(sut, [2, 2, 3]))).toBe(true);
  });
});

describe('glocal scores', () => {
  const rng = new OodRandom(11);
  const xs = sample(rng, 8, 16, 3);
  const sut = fitLayerStats(xs);

  it('max cosine is the nearest bank item, leave-one-out skips the item itself', () => {
    const q = sample(rng, 1, 16, 3)[0];
    expect(maxCosine(sut, q)).toBeCloseTo(Math.max(...xs.map((x) => refCos(q, x))), 6);
    expect(maxCosine(sut, xs[2])).toBeCloseTo(1, 6);
    const loo = Math.max(...xs.filter((_, j) => j !== 2).map((x) => refCos(xs[2], x)));
    expect(maxCosine(sut, xs[2], 2)).toBeCloseTo(loo, 6);
  });

  it('s = γ·max cos − ½·Mahalanobis², larger for a forget-like input than a far one', () => {
    const near = xs[0].map((v) => v + 0.1 * rng.normal());
    const far = xs[0].map(() => 3 * rng.normal() - 3);
    const s = glocalLayerScore(sut, near, 1000);
    expect(s.score).toBeCloseTo(1000 * s.maxCos - 0.5 * s.mahalanobisSq, 9);
    expect(s.score).toBeGreaterThan(glocalLayerScore(sut, far, 1000).score);
  });
});
