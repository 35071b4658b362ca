/** Detector metrics: AUROC and gate recall / false-fire rate at a gate policy. */
import { applyGatePolicy, type GatePolicy } from './gate.js';

/**
 * AUROC = P(score(pos) > score(neg)) + ½·P(tie) (Mann–Whitney U with average ranks for ties).
 * NaN when either set is empty.
 */
export function auroc(positives: ArrayLike<number>, negatives: ArrayLike<number>): number {
  const np = positives.length;
  const nn = negatives.length;
  if (np === 0 || nn === 0) return Number.NaN;
  const all = [
    ...Array.from(positives, (v) => ({ v, pos: true })),
    ...Array.from(negatives, (v) => ({ v, pos: false })),
  ].sort((a, b) => a.v - b.v);
  let rankSumPos = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1].v === all[i].v) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k].pos) rankSumPos += avgRank;
    i = j + 1;
  }
  return (rankSumPos - (np * (np + 1)) / 2) / (np * nn);
}

export interface GateRates {
  /** Fraction of forget-like inputs whose applied strength ≥ threshold. */
  recall: number;
  /** Fraction of other inputs whose applied strength ≥ threshold. */
  falseFireRate: number;
}

/**
 * Gate recall on forget inputs and false-fire rate on the others, from raw gate values w, after
 * `policy`; an input "fires" when its applied strength is ≥ `threshold` (default 0.5).
 */
export function gateRates(
  forgetGates: ArrayLike<number>,
  otherGates: ArrayLike<number>,
  policy: GatePolicy,
  threshold = 0.5,
): GateRates {
  const rate = (ws: ArrayLike<number>): number =>
    ws.length === 0 ? Number.NaN : Array.from(ws).filter((w) => applyGatePolicy(w, policy) >= threshold).length / ws.length;
  return { recall: rate(forgetGates), falseFireRate: rate(otherGates) };
}
