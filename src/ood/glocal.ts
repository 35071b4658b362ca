/**
 * Glocal layer scores (DESIGN §3.2): a local term (max cosine to the forget bank) and a global term
 * (Gaussian log-density with a shrinkage covariance), per layer, in float64.
 *
 * Sign convention: s_l(x) = γ·max_j cos(f_l(x), f_l(x_j)) − ½·(f − μ_l)ᵀ P_l (f − μ_l), so BOTH terms
 * grow as x gets closer to the forget data (larger s = more forget-like). DESIGN/O3 write the local
 * term as −γ·max cos, which makes it fall while the density term rises as x approaches the forget
 * data (O3's code adds the two like that and lets an RBF one-class SVM sort it out); with a linear
 * one-class boundary the two terms must agree, so we flip the local sign. γ = 1000 as in O3.
 *
 * Covariance: Ledoit–Wolf shrinkage toward a scaled identity (the sklearn estimator, computed in
 * O(N²·d) through the Gram matrix since N ≪ d), or a fixed intensity λ. Σ = a·I + UᵀU with
 * a = λ·tr(S)/d and U = √((1−λ)/N)·X_c ([N, d]); Mahalanobis by Woodbury with the Cholesky factor of
 * the small N×N matrix a·I + U·Uᵀ, never a d×d inverse.
 */

/** Per-layer statistics of the forget features (D_used). Plain arrays: serialisable as they are. */
export interface LayerGlocalStats {
  n: number;
  d: number;
  /** Row-normalised feature bank, [n, d]. */
  bank: Float32Array;
  /** μ_l, [d]. */
  mean: Float32Array;
  /** Low-rank part of Σ: U = √((1−λ)/n)·(X − μ), [n, d]. */
  u: Float32Array;
  /** Isotropic part a = λ·tr(S)/d (floored, > 0). */
  a: number;
  /** Shrinkage intensity λ ∈ [0, 1]. */
  shrinkage: number;
  /** Lower Cholesky factor of a·I + U·Uᵀ, [n, n] (derived from u and a; see `factorLayerStats`). */
  chol: Float64Array;
}

export interface GlocalOptions {
  /** `ledoit-wolf` (default) or a fixed intensity in [0, 1]. */
  shrinkage?: 'ledoit-wolf' | number;
}

/** One layer's score parts. */
export interface GlocalLayerScore {
  /** max_j cos(f, f_j) ∈ [−1, 1]. */
  maxCos: number;
  /** (f − μ)ᵀ P (f − μ) ≥ 0. */
  mahalanobisSq: number;
  /** γ·maxCos − ½·mahalanobisSq. */
  score: number;
}

/**
 * Ledoit–Wolf shrinkage intensity of centred rows X ([n, d], S = XᵀX/n):
 * λ = min(β, δ)/δ with δ = ‖S − μI‖²_F/d, β = (Σ_i‖x_i‖⁴/n − ‖S‖²_F)/(n·d), μ = tr S/d.
 */
export function ledoitWolfShrinkage(centred: ArrayLike<number>[], d: number): number {
  const n = centred.length;
  if (n === 0) return 1;
  const norms2 = centred.map((x) => dot(x, x, d));
  const trace = norms2.reduce((s, v) => s + v, 0) / n;
  const mu = trace / d;
  let gram2 = 0; // ‖XXᵀ‖²_F = ‖XᵀX‖²_F
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) gram2 += (i === j ? norms2[i] : dot(centred[i], centred[j], d)) ** 2;
  }
  const s2 = gram2 / (n * n);
  const delta = (s2 - d * mu * mu) / d;
  const beta = Math.min((norms2.reduce((s, v) => s + v * v, 0) / n - s2) / (n * d), delta);
  return delta <= 0 || beta <= 0 ? (delta <= 0 ? 1 : 0) : beta / delta;
}

/** Fits one layer's statistics on D_used features (each [d]). */
export function fitLayerStats(features: ArrayLike<number>[], options: GlocalOptions = {}): LayerGlocalStats {
  const n = features.length;
  if (n === 0) throw new Error('glocal statistics need at least one feature vector');
  const d = features[0].length;
  const mean = new Float64Array(d);
  for (const f of features) {
    if (f.length !== d) throw new Error(`feature width ${f.length} != ${d}`);
    for (let k = 0; k < d; k++) mean[k] += f[k] / n;
  }
  const centred = features.map((f) => Float64Array.from({ length: d }, (_, k) => f[k] - mean[k]));
  const lambda = options.shrinkage === undefined || options.shrinkage === 'ledoit-wolf'
    ? ledoitWolfShrinkage(centred, d)
    : options.shrinkage;
  if (!(lambda >= 0 && lambda <= 1)) throw new Error(`shrinkage ${lambda} outside [0, 1]`);
  const trace = centred.reduce((s, x) => s + dot(x, x, d), 0) / n;
  // Variance floor (1e-4 of the mean squared feature) keeps P finite for n = 1 or identical rows.
  const meanSq = dot(mean, mean, d) / d;
  const a = Math.max((lambda * trace) / d, 1e-4 * meanSq + 1e-12);
  const scale = Math.sqrt((1 - lambda) / n);
  const u = new Float32Array(n * d);
  const bank = new Float32Array(n * d);
  features.forEach((f, i) => {
    const norm = Math.sqrt(dot(f, f, d)) || 1;
    for (let k = 0; k < d; k++) {
      u[i * d + k] = scale * centred[i][k];
      bank[i * d + k] = f[k] / norm;
    }
  });
  return factorLayerStats({ n, d, bank, mean: Float32Array.from(mean), u, a, shrinkage: lambda });
}

/** Computes the Cholesky factor of a·I + U·Uᵀ from the stored (float32) U, so fit and load agree. */
export function factorLayerStats(stats: Omit<LayerGlocalStats, 'chol'>): LayerGlocalStats {
  const { n, d, u, a } = stats;
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = i === j ? a : 0;
      for (let k = 0; k < d; k++) s += u[i * d + k] * u[j * d + k];
      m[i * n + j] = s;
    }
  }
  return { ...stats, chol: cholesky(m, n) };
}

/** (f − μ)ᵀ Σ⁻¹ (f − μ) = (‖v‖² − ‖L⁻¹Uv‖²)/a (Woodbury), v = f − μ. */
export function mahalanobisSq(stats: LayerGlocalStats, f: ArrayLike<number>): number {
  const { n, d, u, mean, a, chol } = stats;
  const v = new Float64Array(d);
  for (let k = 0; k < d; k++) v[k] = f[k] - mean[k];
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += u[i * d + k] * v[k];
    // Forward substitution L y = U v.
    for (let j = 0; j < i; j++) s -= chol[i * n + j] * y[j];
    y[i] = s / chol[i * n + i];
  }
  return Math.max(0, (dot(v, v, d) - dot(y, y, n)) / a);
}

/** max_j cos(f, bank_j), skipping row `exclude` (leave-one-out scoring of D_used itself). */
export function maxCosine(stats: LayerGlocalStats, f: ArrayLike<number>, exclude = -1): number {
  const { n, d, bank } = stats;
  const norm = Math.sqrt(dot(f, f, d)) || 1;
  let best = -1;
  for (let j = 0; j < n; j++) {
    if (j === exclude) continue;
    let s = 0;
    for (let k = 0; k < d; k++) s += bank[j * d + k] * f[k];
    if (s / norm > best) best = s / norm;
  }
  return Math.min(1, best);
}

/** s_l(x) = γ·max cos − ½·Mahalanobis² (see the file comment for the sign). */
export function glocalLayerScore(
  stats: LayerGlocalStats,
  f: ArrayLike<number>,
  gamma = 1000,
  exclude = -1,
): GlocalLayerScore {
  const maxCos = maxCosine(stats, f, exclude);
  const m2 = mahalanobisSq(stats, f);
  return { maxCos, mahalanobisSq: m2, score: gamma * maxCos - 0.5 * m2 };
}

function dot(x: ArrayLike<number>, y: ArrayLike<number>, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) s += x[k] * y[k];
  return s;
}

/** Lower Cholesky factor of a symmetric positive definite [n, n] matrix (lower triangle read). */
function cholesky(m: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = m[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (!(s > 0)) throw new Error('covariance factor is not positive definite');
        l[i * n + i] = Math.sqrt(s);
      } else {
        l[i * n + j] = s / l[j * n + j];
      }
    }
  }
  return l;
}
