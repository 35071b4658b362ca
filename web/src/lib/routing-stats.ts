import type { RoutingDecision } from '../api/types.js';

/** One time bucket of how an adapter was routed. */
export interface RoutingBucket {
  start: number;
  end: number;
  /** Decisions in the bucket whose plan applied the adapter (strength > 0). */
  applied: number;
  /** Decisions in the bucket whose plan listed the adapter at all. */
  listed: number;
  /** Mean strength over the applied decisions (0 when none). */
  meanStrength: number;
  maxStrength: number;
}

export function decisionTime(d: RoutingDecision): number {
  return Date.parse(d.createdAt);
}

/**
 * Buckets the decisions that mention `adapterId` into `n` equal time slices spanning them
 * (or `[from, to]` when given). Decisions without a time are ignored.
 */
export function bucketRouting(decisions: RoutingDecision[], adapterId: string, n = 24, from?: number, to?: number): RoutingBucket[] {
  const hits: { t: number; strength: number; applied: boolean }[] = [];
  for (const d of decisions) {
    const t = decisionTime(d);
    if (!Number.isFinite(t)) continue;
    for (const e of d.plan.entries) {
      if (e.adapterId !== adapterId) continue;
      const strength = Number.isFinite(e.strength) ? e.strength : 0;
      hits.push({ t, strength, applied: e.applied && strength > 0 });
    }
  }
  if (hits.length === 0) return [];
  const lo = from ?? Math.min(...hits.map((h) => h.t));
  let hi = to ?? Math.max(...hits.map((h) => h.t));
  if (hi <= lo) hi = lo + 60_000; // one minute window for a single instant
  const width = (hi - lo) / n;
  const buckets: RoutingBucket[] = Array.from({ length: n }, (_, i) => ({
    start: lo + i * width,
    end: lo + (i + 1) * width,
    applied: 0,
    listed: 0,
    meanStrength: 0,
    maxStrength: 0,
  }));
  const sums = new Array<number>(n).fill(0);
  for (const h of hits) {
    if (h.t < lo || h.t > hi) continue;
    const i = Math.min(n - 1, Math.floor((h.t - lo) / width));
    const b = buckets[i]!;
    b.listed++;
    if (h.applied) {
      b.applied++;
      sums[i]! += h.strength;
      b.maxStrength = Math.max(b.maxStrength, h.strength);
    }
  }
  buckets.forEach((b, i) => (b.meanStrength = b.applied ? sums[i]! / b.applied : 0));
  return buckets;
}
