import { describe, expect, it } from 'vitest';
import { fitOneClass, oneClassScore, solveOneClassDual } from './one-class.js';
import { OodRandom } from './random.js';

// Float64 reference: projected gradient on {0 ≤ α ≤ 1, Σα = T}, projection by bisection.
function refDual(x: number[][], nu: number): number[] {
  const n = x.length;
  const total = nu * n;
  const k = x.map((a) => x.map((b) => a.reduce((s, v, i) => s + v * b[i], 0)));
  const lip = k.reduce((s, row, i) => s + row[i], 0);
  let alpha = new Array<number>(n).fill(total / n);
  const project = (y: number[]): number[] => {
    let lo = Math.min(...y) - 1;
    let hi = Math.max(...y);
    for (let it = 0; it < 200; it++) {
      const mid = (lo + hi) / 2;
      const s = y.reduce((acc, v) => acc + Math.min(1, Math.max(0, v - mid)), 0);
      if (s > total) lo = mid;
      else hi = mid;
    }
    return y.map((v) => Math.min(1, Math.max(0, v - (lo + hi) / 2)));
  };
  for (let it = 0; it < 20_000; it++) {
    const g = k.map((row) => row.reduce((s, v, j) => s + v * alpha[j], 0));
    alpha = project(alpha.map((a, i) => a - g[i] / lip));
  }
  return alpha;
}

function cluster(rng: OodRandom, n: number, centre: number[], spread: number): number[][] {
  return Array.from({ length: n }, () => centre.map((c) => c + spread * rng.normal()));
}

describe('solveOneClassDual', () => {
  it('reaches the optimum of the dual (w = Σα·x matches a projected-gradient float64 reference)', () => {
    const rng = new OodRandom(5);
    for (const nu of [0.1, 0.3, 0.5]) {
      const x = cluster(rng, 12, [3, 2, 4], 0.7);
      const n = x.length;
      const k = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) k[i * n + j] = x[i].reduce((s, v, t) => s + v * x[j][t], 0);
      const sut = solveOneClassDual(k, n, nu);
      const ref = refDual(x, nu);
      expect(sut.alpha.reduce((a, b) => a + b)).toBeCloseTo(nu * n, 10);
      for (let t = 0; t < 3; t++) {
        const w = x.reduce((s, xi, i) => s + sut.alpha[i] * xi[t], 0);
        const wRef = x.reduce((s, xi, i) => s + ref[i] * xi[t], 0);
        expect(Math.abs(w - wRef)).toBeLessThan(1e-5 * Math.max(1, Math.abs(wRef)));
      }
      // KKT: G_i ≥ ρ where α = 0, G_i ≤ ρ where α = 1.
      for (let i = 0; i < n; i++) {
        const g = x.reduce((s, xj, j) => s + sut.alpha[j] * xj.reduce((a, v, t) => a + v * x[i][t], 0), 0);
        if (sut.alpha[i] < 1e-12) expect(g).toBeGreaterThanOrEqual(sut.rho - 1e-7);
        if (sut.alpha[i] > 1 - 1e-12) expect(g).toBeLessThanOrEqual(sut.rho + 1e-7);
      }
    }
  });
});

describe('fitOneClass', () => {
  const rng = new OodRandom(9);
  const train = cluster(rng, 40, [950, 900, 800, 980], 5);
  const sut = fitOneClass(train, { nu: 0.1 });

  it('respects the ν-property: at most ν of D_used outside, at least ν·n support vectors', () => {
    const outside = train.filter((s) => oneClassScore(sut, s) < -1e-9).length;
    expect(outside / train.length).toBeLessThanOrEqual(0.1 + 1e-9);
    expect(sut.supportVectors).toBeGreaterThanOrEqual(4);
    // Weights are non-negative (a convex combination of points with positive coordinates).
    for (const w of sut.w) expect(w).toBeGreaterThanOrEqual(0);
  });

  it('separates toy data: new in-cluster points score higher than every far point', () => {
    const inside = cluster(rng, 30, [950, 900, 800, 980], 5).map((s) => oneClassScore(sut, s));
    const far = [
      ...cluster(rng, 30, [700, 650, 600, 700], 20),
      ...cluster(rng, 10, [950, 900, 800, 700], 5), // low in one layer only
    ].map((s) => oneClassScore(sut, s));
    expect(Math.min(...inside)).toBeGreaterThan(Math.max(...far));
    expect(Math.max(...far)).toBeLessThan(0);
    expect(oneClassScore(sut, [950, 900, 800, 980])).toBeGreaterThan(0);
  });

  it('is deterministic and survives a single vector', () => {
    expect(fitOneClass(train, { nu: 0.1 })).toEqual(sut);
    const one = fitOneClass([[1, 2]]);
    expect(oneClassScore(one, [1, 2])).toBeGreaterThanOrEqual(-1e-9);
    expect(oneClassScore(one, [0, 1])).toBeLessThan(0);
  });
});
