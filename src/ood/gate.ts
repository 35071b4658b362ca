/**
 * O3 gate calibration without retained data (DESIGN §3.2) and the gate policies that map the gate
 * w ∈ (0.12, 0.9997) to the strength an unlearning adapter is applied at.
 *
 * Convention (shared with one-class.ts): larger z = more like the forget data.
 */

/** Which side of x0 the gate decays on. */
export type GateSidedness = 'one' | 'two';

/** Calibration constants of one detector. */
export interface GateCalibration {
  /** Mean z on D_used (the items the detector was fitted on). */
  m1: number;
  /** Mean z on D_rest (held-out forget items). */
  m2: number;
  /** Common standard deviation of both mixture components (> 0 after the guards). */
  sigma: number;
  /** Centre of the gate, (m1 + m2) / 2. */
  x0: number;
  /** Steepness ζ of the gate (O3: 10). */
  zeta: number;
  /**
   * `two`: O3's formula on both sides of x0, so z far above x0 (more forget-like than D_used)
   * decays to 0.12 as well. `one` (default): z ≥ x0 keeps the peak value, because under our
   * convention a larger z is never evidence against the forget data (an exact forget prompt
   * must not lose its gate by being too close).
   */
  sided: GateSidedness;
  nUsed: number;
  nRest: number;
  /** Guards that fired (empty on a healthy split), for the request's metrics/audit. */
  guards: string[];
}

export interface CalibrationOptions {
  /** Default 10. */
  zeta?: number;
  /** Default `one`. */
  sided?: GateSidedness;
}

/** Gate policies (recorded by callers in every plan). */
export type GatePolicy =
  /** Apply w itself, 0 when w < floor (default floor 0.2, above the 0.12 tail value). */
  | { name: 'soft'; floor?: number }
  /** O3's hard mapping: 1 above 0.32, 10·w² in (0.2, 0.32], else 0. */
  | { name: 'o3-hard' };

export const DEFAULT_GATE_POLICY: GatePolicy = { name: 'o3-hard' };
export const DEFAULT_SOFT_FLOOR = 0.2;

/** Standard normal CDF; Φ(−x) = 1 − Φ(x) holds to rounding (erfc evaluated on |x|). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const t = Math.abs(x) / Math.SQRT2;
  const c = erfcNonNegative(t);
  return x >= 0 ? 1 - 0.5 * c : 0.5 * c;
}

// erfc for t ≥ 0, Chebyshev fit with fractional error < 1.2e-7 (Numerical Recipes' erfcc form).
function erfcNonNegative(t: number): number {
  const k = 1 / (1 + 0.5 * t);
  const poly =
    -t * t - 1.26551223 +
    k * (1.00002368 + k * (0.37409196 + k * (0.09678418 + k * (-0.18628806 + k * (0.27886807 +
      k * (-1.13520398 + k * (1.48851587 + k * (-0.82215223 + k * 0.17087277))))))));
  return k * Math.exp(poly);
}

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

function sumSq(xs: ArrayLike<number>, m: number): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2;
  return s;
}

/**
 * Calibrates the gate from z(D_used) and z(D_rest): m1, m2 = their means, σ = sample std of
 * z(D_rest) (O3 uses the held-out spread for both components), x0 = (m1 + m2)/2.
 *
 * Guards (each recorded in `guards`):
 * - D_rest empty: m2 = m1 (`no-held-out`).
 * - fewer than 2 held-out items or σ ≈ 0: σ = pooled within-group std of D_used and D_rest
 *   (`sigma-pooled`);
 * - still ≈ 0 (all z equal): σ = max(|m1 − m2|/2, 1e-6·max(1, |m1|, |m2|)) (`sigma-floor`), so F is a
 *   steep but finite step and w stays in (0.12, 0.9997).
 * m1 == m2 needs no guard: F is then one Gaussian centred on x0 = m1.
 * Throws on an empty D_used or non-finite z.
 */
export function calibrateGate(
  zUsed: ArrayLike<number>,
  zRest: ArrayLike<number>,
  options: CalibrationOptions = {},
): GateCalibration {
  if (zUsed.length === 0) throw new Error('gate calibration needs at least one D_used score');
  for (const xs of [zUsed, zRest]) {
    for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i])) throw new Error(`non-finite score ${xs[i]}`);
  }
  const guards: string[] = [];
  const m1 = mean(zUsed);
  let m2 = m1;
  if (zRest.length === 0) guards.push('no-held-out');
  else m2 = mean(zRest);
  const scale = Math.max(1, Math.abs(m1), Math.abs(m2));
  const tiny = 1e-9 * scale;
  let sigma = zRest.length >= 2 ? Math.sqrt(sumSq(zRest, m2) / (zRest.length - 1)) : 0;
  if (!(sigma > tiny)) {
    const dof = zUsed.length + zRest.length - (zRest.length > 0 ? 2 : 1);
    sigma = dof > 0 ? Math.sqrt((sumSq(zUsed, m1) + (zRest.length > 0 ? sumSq(zRest, m2) : 0)) / dof) : 0;
    guards.push('sigma-pooled');
  }
  if (!(sigma > tiny)) {
    sigma = Math.max(Math.abs(m1 - m2) / 2, 1e-6 * scale);
    guards.push('sigma-floor');
  }
  return {
    m1,
    m2,
    sigma,
    x0: (m1 + m2) / 2,
    zeta: options.zeta ?? 10,
    sided: options.sided ?? 'one',
    nUsed: zUsed.length,
    nRest: zRest.length,
    guards,
  };
}

/** F(z): CDF of the equal mixture ½N(m1, σ²) + ½N(m2, σ²). */
export function mixtureCdf(cal: GateCalibration, z: number): number {
  return 0.5 * normalCdf((z - cal.m1) / cal.sigma) + 0.5 * normalCdf((z - cal.m2) / cal.sigma);
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * The gate w(z) = sigmoid(ζ·(1 − |2F(z) − 1|) − 2): sigmoid(ζ − 2) ≈ 0.9997 at x0, sigmoid(−2) ≈ 0.12
 * in the tails. One-sided calibrations hold the peak for z ≥ x0. A NaN score fails closed (peak).
 */
export function gateWeight(cal: GateCalibration, z: number): number {
  if (Number.isNaN(z) || (cal.sided === 'one' && z >= cal.x0)) return sigmoid(cal.zeta - 2);
  const f = mixtureCdf(cal, z);
  return sigmoid(cal.zeta * (1 - Math.abs(2 * f - 1)) - 2);
}

/** Maps a gate value w to the strength the adapter is applied at. */
export function applyGatePolicy(w: number, policy: GatePolicy = DEFAULT_GATE_POLICY): number {
  if (Number.isNaN(w)) return 1;
  switch (policy.name) {
    case 'soft':
      return w < (policy.floor ?? DEFAULT_SOFT_FLOOR) ? 0 : w;
    case 'o3-hard':
      if (w > 0.32) return 1;
      return w > 0.2 ? 10 * w * w : 0;
  }
}

/** A stable label for a policy, e.g. `soft(floor=0.2)` or `o3-hard`, for plans and metrics. */
export function gatePolicyLabel(policy: GatePolicy): string {
  return policy.name === 'soft' ? `soft(floor=${policy.floor ?? DEFAULT_SOFT_FLOOR})` : policy.name;
}

/** The same calibration moved by `delta` along z: the gate keeps its shape, its centre moves. */
export function shiftCalibration(cal: GateCalibration, delta: number): GateCalibration {
  if (delta === 0) return cal;
  return { ...cal, m1: cal.m1 + delta, m2: cal.m2 + delta, x0: cal.x0 + delta, guards: [...cal.guards.filter((g) => g !== 'negative-shift'), 'negative-shift'] };
}

/** The smallest z at which the gate's strength under `policy` reaches `strength` (one-sided gates rise monotonically up to x0). */
export function zAtStrength(cal: GateCalibration, strength: number, policy: GatePolicy = DEFAULT_GATE_POLICY): number {
  let lo = cal.x0 - 60 * cal.sigma;
  let hi = cal.x0;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (applyGatePolicy(gateWeight(cal, mid), policy) >= strength) hi = mid;
    else lo = mid;
  }
  return hi;
}

export interface NegativeCalibrationOptions {
  /** Most near-negatives that may get any strength (default 0.02). */
  maxFalseFire?: number;
  /** Least share of positive (held-out forget) scores that must keep a strength ≥ 0.5 (default 0.9). */
  minRecall?: number;
  policy?: GatePolicy;
}

/**
 * Places the gate between generated near-negatives and held-out forget prompts (DESIGN §3.2b): O3's
 * calibration sees only forget data, so with a 10-item request its gate is as wide as two held-out
 * items make it and fires on questions about other entities. The gate is moved (shape kept) so that
 * at most `maxFalseFire` of the negatives get any strength, midway into the margin when there is one,
 * and never so far that fewer than `minRecall` of the positives keep strength ≥ 0.5.
 */
export function calibrateAgainstNegatives(
  cal: GateCalibration,
  zPositive: readonly number[],
  zNegative: readonly number[],
  options: NegativeCalibrationOptions = {},
): { calibration: GateCalibration; delta: number } {
  if (cal.sided !== 'one' || zNegative.length === 0) return { calibration: cal, delta: 0 };
  const policy = options.policy ?? DEFAULT_GATE_POLICY;
  const quantile = (xs: readonly number[], q: number): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  };
  // strength(z) = 0 exactly for z below zero0 (+delta); ≥ 0.5 for z above zHalf (+delta).
  const zero0 = zAtStrength(cal, Number.MIN_VALUE, policy);
  const zHalf = zAtStrength(cal, 0.5, policy);
  const needed = quantile(zNegative, 1 - (options.maxFalseFire ?? 0.02)) - zero0;
  if (zPositive.length === 0) return { calibration: shiftCalibration(cal, Math.max(0, needed)), delta: Math.max(0, needed) };
  const allowed = quantile(zPositive, 1 - (options.minRecall ?? 0.9)) - zHalf;
  const delta = needed <= allowed ? (needed + allowed) / 2 : allowed;
  return { calibration: shiftCalibration(cal, delta), delta };
}
