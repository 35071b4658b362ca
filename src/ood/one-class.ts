/**
 * Linear one-class SVM (Schölkopf et al., ν-formulation) that aggregates the layer-score vector
 * s(x) ∈ R^L into one scalar z(x) (DESIGN §3.2).
 *
 * Convention: larger z = more like the forget data (z > 0 inside the boundary, z < 0 outside).
 *
 * A linear one-class SVM separates the data from the origin, so the origin must mean "far from the
 * forget data". Every coordinate of s grows towards the forget data (glocal.ts), so we standardise
 * each coordinate and put the origin k = 3 D_used standard deviations below the D_used mean:
 * u_l = (s_l − (mean_l − k·sd_l)) / sd_l. The data then sit near u ≈ k, the boundary weights layers by
 * how consistently D_used scores them, and z falls for any input whose layer scores drop.
 *
 * Solver: the dual min ½·αᵀKα, 0 ≤ α_i ≤ 1, Σα_i = ν·n (libsvm's scaling), by SMO with the maximal
 * violating pair; deterministic (ties go to the lowest index). z = (w·u − ρ)/(ν·n), w = Σα_i·u_i.
 */

export interface OneClassModel {
  nu: number;
  /** Standardisation: u = (s − origin)/scale, per coordinate. */
  origin: number[];
  scale: number[];
  /** Boundary normal in standardised coordinates, a convex combination of support vectors. */
  w: number[];
  /** Offset: z = w·u − rho. */
  rho: number;
  /** Diagnostics of the fit. */
  iterations: number;
  supportVectors: number;
}

export interface OneClassOptions {
  /** Upper bound on the fraction of outliers and lower bound on the fraction of SVs. Default 0.1. */
  nu?: number;
  /** Origin offset k in D_used standard deviations. Default 3. */
  originOffset?: number;
  /** Stopping tolerance on the KKT violation (relative to the kernel scale). Default 1e-10. */
  tolerance?: number;
  maxIterations?: number;
}

/** Result of the dual solver: α (Σα = ν·n) and ρ. */
export interface OneClassDual {
  alpha: Float64Array;
  rho: number;
  iterations: number;
}

/** SMO on the one-class dual for a Gram matrix K ([n, n], row-major). */
export function solveOneClassDual(k: Float64Array, n: number, nu: number, tolerance = 1e-10, maxIterations = 100_000): OneClassDual {
  if (!(nu > 0 && nu <= 1)) throw new Error(`nu ${nu} outside (0, 1]`);
  const total = nu * n;
  const alpha = new Float64Array(n);
  const full = Math.min(Math.floor(total), n);
  for (let i = 0; i < full; i++) alpha[i] = 1;
  if (full < n) alpha[full] = total - full;
  const g = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i] += k[i * n + j] * alpha[j];
  let diag = 0;
  for (let i = 0; i < n; i++) diag = Math.max(diag, k[i * n + i]);
  const eps = tolerance * Math.max(1, diag);
  let it = 0;
  for (; it < maxIterations; it++) {
    let i = -1;
    let j = -1;
    for (let t = 0; t < n; t++) {
      if (alpha[t] < 1 && (i < 0 || g[t] < g[i])) i = t;
      if (alpha[t] > 0 && (j < 0 || g[t] > g[j])) j = t;
    }
    if (i < 0 || j < 0 || g[j] - g[i] <= eps) break;
    const eta = Math.max(k[i * n + i] + k[j * n + j] - 2 * k[i * n + j], 1e-12);
    const delta = Math.min((g[j] - g[i]) / eta, 1 - alpha[i], alpha[j]);
    alpha[i] += delta;
    alpha[j] -= delta;
    for (let t = 0; t < n; t++) g[t] += delta * (k[t * n + i] - k[t * n + j]);
  }
  // ρ from KKT: free α ⇒ G = ρ; α = 1 ⇒ G ≤ ρ; α = 0 ⇒ G ≥ ρ.
  let freeSum = 0;
  let freeCount = 0;
  let lower = -Infinity;
  let upper = Infinity;
  for (let t = 0; t < n; t++) {
    if (alpha[t] > 1e-12 && alpha[t] < 1 - 1e-12) {
      freeSum += g[t];
      freeCount++;
    } else if (alpha[t] >= 1 - 1e-12) lower = Math.max(lower, g[t]);
    else upper = Math.min(upper, g[t]);
  }
  const rho = freeCount > 0
    ? freeSum / freeCount
    : Number.isFinite(lower) && Number.isFinite(upper) ? (lower + upper) / 2 : Number.isFinite(lower) ? lower : upper;
  return { alpha, rho, iterations: it };
}

/** Fits the boundary on D_used's layer-score vectors (each [L]). */
export function fitOneClass(vectors: ArrayLike<number>[], options: OneClassOptions = {}): OneClassModel {
  const n = vectors.length;
  if (n === 0) throw new Error('one-class fit needs at least one vector');
  const dim = vectors[0].length;
  const nu = options.nu ?? 0.1;
  const offset = options.originOffset ?? 3;
  const origin: number[] = [];
  const scale: number[] = [];
  for (let l = 0; l < dim; l++) {
    let m = 0;
    for (const v of vectors) m += v[l] / n;
    let ss = 0;
    for (const v of vectors) ss += (v[l] - m) ** 2;
    // Floor the spread so a coordinate constant on D_used (n = 1, ties) cannot blow up.
    const sd = Math.max(n > 1 ? Math.sqrt(ss / (n - 1)) : 0, 1e-3 * (Math.abs(m) + 1));
    scale.push(sd);
    origin.push(m - offset * sd);
  }
  const u = vectors.map((v) => Array.from({ length: dim }, (_, l) => (v[l] - origin[l]) / scale[l]));
  const k = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) k[i * n + j] = dotN(u[i], u[j], dim);
  const dual = solveOneClassDual(k, n, nu, options.tolerance, options.maxIterations);
  const total = nu * n;
  const w = new Array<number>(dim).fill(0);
  dual.alpha.forEach((a, i) => {
    for (let l = 0; l < dim; l++) w[l] += (a * u[i][l]) / total;
  });
  return {
    nu,
    origin,
    scale,
    w,
    rho: dual.rho / total,
    iterations: dual.iterations,
    supportVectors: dual.alpha.filter((a) => a > 1e-12).length,
  };
}

/** z(x) = w·u(s) − ρ: positive inside the boundary, larger = more like the forget data. */
export function oneClassScore(model: OneClassModel, s: ArrayLike<number>): number {
  let z = -model.rho;
  for (let l = 0; l < model.w.length; l++) z += (model.w[l] * (s[l] - model.origin[l])) / model.scale[l];
  return z;
}

function dotN(x: ArrayLike<number>, y: ArrayLike<number>, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) s += x[k] * y[k];
  return s;
}
