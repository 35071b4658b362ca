/**
 * Principal directions of a few long vectors (n rows ≪ length), via the n×n Gram matrix: it
 * initialises the CVAE's low-rank output basis so that the decoder starts out able to express the
 * directions in which task checkpoints differ. Float64 throughout.
 */

/** Eigen-decomposition of a symmetric matrix [n][n] by cyclic Jacobi rotations; eigenvalues descending. */
export function symmetricEigen(matrix: Float64Array[], sweeps = 100): { values: number[]; vectors: Float64Array[] } {
  const n = matrix.length;
  const a = matrix.map((r) => Float64Array.from(r));
  // v[i][j]: component i of eigenvector j.
  const v = Array.from({ length: n }, (_, i) => Float64Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p][q] * a[p][q];
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j][j] - a[i][i]);
  return {
    values: order.map((i) => a[i][i]),
    vectors: order.map((j) => Float64Array.from({ length: n }, (_, i) => v[i][j])),
  };
}

/**
 * The top-k principal directions of rows [n][length] (taken as already centred), each scaled by the
 * RMS of the rows' coefficients along it: row i = Rᵀ vᵢ / √n with vᵢ the i-th unit eigenvector of
 * R Rᵀ, so that rows ≈ coefficients · basis with coefficients of mean square 1. Directions beyond
 * the data's rank come out zero. Returns [k][length].
 */
export function scaledPrincipalBasis(rows: Float32Array[], k: number): Float32Array[] {
  const n = rows.length;
  const length = rows[0]?.length ?? 0;
  const gram = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      const ri = rows[i];
      const rj = rows[j];
      for (let t = 0; t < length; t++) s += ri[t] * rj[t];
      gram[i][j] = s;
      gram[j][i] = s;
    }
  }
  const { values, vectors } = symmetricEigen(gram);
  const tol = 1e-9 * Math.max(values[0] ?? 0, 1e-300);
  return Array.from({ length: k }, (_, c) => {
    const out = new Float64Array(length);
    if (c < n && values[c] > tol) {
      const vec = vectors[c];
      for (let i = 0; i < n; i++) {
        const w = vec[i] / Math.sqrt(n);
        const r = rows[i];
        for (let t = 0; t < length; t++) out[t] += w * r[t];
      }
    }
    return Float32Array.from(out);
  });
}
