import { describe, expect, it } from 'vitest';
import { SeededRandom } from './random.js';
import { scaledPrincipalBasis, symmetricEigen } from './pca.js';

describe('symmetricEigen (Jacobi)', () => {
  it('satisfies A v = λ v with orthonormal vectors, eigenvalues descending', () => {
    const rng = new SeededRandom(1);
    const n = 7;
    const b = Array.from({ length: n }, () => Array.from({ length: n }, () => rng.normal()));
    const a = Array.from({ length: n }, (_, i) => Float64Array.from({ length: n }, (_, j) => (b[i][j] + b[j][i]) / 2));
    const { values, vectors } = symmetricEigen(a);
    for (let i = 1; i < n; i++) expect(values[i]).toBeLessThanOrEqual(values[i - 1]);
    for (let c = 0; c < n; c++) {
      for (let i = 0; i < n; i++) {
        const av = a[i].reduce((s, x, j) => s + x * vectors[c][j], 0);
        expect(Math.abs(av - values[c] * vectors[c][i])).toBeLessThan(1e-10);
      }
      for (let d = 0; d < n; d++) {
        const dot = vectors[c].reduce((s, x, i) => s + x * vectors[d][i], 0);
        expect(Math.abs(dot - (c === d ? 1 : 0))).toBeLessThan(1e-10);
      }
    }
  });
});

describe('scaledPrincipalBasis', () => {
  it('recovers a rank-2 set exactly: rows = coefficients · basis, coefficients of mean square 1', () => {
    const rng = new SeededRandom(2);
    const length = 300;
    const u = [rng.normals(length), rng.normals(length)];
    // 6 rows in the span of u0, u1 with very different spreads along them.
    const coef = Array.from({ length: 6 }, () => [3 * rng.normal(), 0.5 * rng.normal()]);
    const rows = coef.map(([a, b]) => Float32Array.from({ length }, (_, t) => a * u[0][t] + b * u[1][t]));
    const basis = scaledPrincipalBasis(rows, 3);
    expect(basis).toHaveLength(3);
    expect(basis[2].every((v) => v === 0)).toBe(true); // beyond the rank
    const dot = (x: ArrayLike<number>, y: ArrayLike<number>) => Array.from(x).reduce((s, v, i) => s + v * y[i], 0);
    const n0 = dot(basis[0], basis[0]);
    const n1 = dot(basis[1], basis[1]);
    expect(Math.abs(dot(basis[0], basis[1])) / Math.sqrt(n0 * n1)).toBeLessThan(1e-5);
    // Least-squares coefficients along the (orthogonal) basis reconstruct every row in float64.
    let meanSq = [0, 0];
    for (const r of rows) {
      const c = [dot(r, basis[0]) / n0, dot(r, basis[1]) / n1];
      meanSq = meanSq.map((m, i) => m + c[i] ** 2 / rows.length);
      const err = Math.max(...Array.from(r, (v, t) => Math.abs(v - c[0] * basis[0][t] - c[1] * basis[1][t])));
      expect(err).toBeLessThan(1e-4 * Math.max(...Array.from(r, Math.abs)));
    }
    expect(meanSq[0]).toBeCloseTo(1, 4);
    expect(meanSq[1]).toBeCloseTo(1, 4);
    expect(n0).toBeGreaterThan(n1); // the wider spread first
  });
});
