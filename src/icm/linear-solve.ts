/**
 * Solves A X = B (B given as rows [n][m]) by Gauss-Jordan elimination with partial pivoting; returns
 * X as rows [n][m]. Small dense systems of the generators (Gram and kernel matrices, tens of rows).
 * `what` names the caller in the error a singular system raises.
 */
export function solveColumns(a: number[][], b: ArrayLike<number>[], what: string): number[][] {
  const n = a.length;
  const m = b[0]?.length ?? 0;
  const rows = a.map((r, i) => [...r, ...Array.from(b[i])]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(rows[r][c]) > Math.abs(rows[p][c])) p = r;
    [rows[c], rows[p]] = [rows[p], rows[c]];
    const pivot = rows[c][c];
    if (Math.abs(pivot) < 1e-300) throw new Error(`singular system in ${what}`);
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = rows[r][c] / pivot;
      if (f === 0) continue;
      for (let k = c; k < n + m; k++) rows[r][k] -= f * rows[c][k];
    }
  }
  return rows.map((r, i) => r.slice(n).map((v) => v / r[i]));
}
