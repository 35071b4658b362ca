import { describe, expect, it } from 'vitest';
import {
  applyGatePolicy,
  calibrateAgainstNegatives,
  calibrateGate,
  gatePolicyLabel,
  gateWeight,
  mixtureCdf,
  normalCdf,
  shiftCalibration,
  type GateCalibration,
} from './gate.js';
import { OodRandom } from './random.js';

// Float64 reference Φ from the Maclaurin series of erf (accurate to ~1e-9 for |x| ≤ 5·√2).
function refPhi(x: number): number {
  // Beyond 6σ the series loses precision; Φ is 0 or 1 there to < 1e-9.
  if (Math.abs(x) > 6) return x > 0 ? 1 : 0;
  const t = x / Math.SQRT2;
  let term = t;
  let sum = t;
  for (let n = 1; n < 200; n++) {
    term *= (-t * t) / n;
    sum += term / (2 * n + 1);
  }
  return 0.5 * (1 + (2 / Math.sqrt(Math.PI)) * sum);
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

describe('normalCdf', () => {
  it('matches a float64 series reference to 2e-7 and is exactly antisymmetric', () => {
    for (let x = -5; x <= 5; x += 0.137) {
      expect(Math.abs(normalCdf(x) - refPhi(x))).toBeLessThan(2e-7);
      expect(normalCdf(-x)).toBeCloseTo(1 - normalCdf(x), 15);
    }
  });
});

describe('calibrateGate / gateWeight', () => {
  const rng = new OodRandom(7);
  const zUsed = Array.from({ length: 16 }, () => 5 + rng.normal());
  const zRest = Array.from({ length: 4 }, () => 3 + 0.8 * rng.normal());
  const sut = calibrateGate(zUsed, zRest);

  it('computes m1, m2, σ (sample std of D_rest) and x0 from the definition', () => {
    const m1 = zUsed.reduce((a, b) => a + b) / 16;
    const m2 = zRest.reduce((a, b) => a + b) / 4;
    const sd = Math.sqrt(zRest.reduce((a, b) => a + (b - m2) ** 2, 0) / 3);
    expect(sut.m1).toBeCloseTo(m1, 12);
    expect(sut.m2).toBeCloseTo(m2, 12);
    expect(sut.sigma).toBeCloseTo(sd, 12);
    expect(sut.x0).toBeCloseTo((m1 + m2) / 2, 12);
    expect(sut.guards).toEqual([]);
    for (const z of [-2, 0, 2.5, 4, 6]) {
      const ref = 0.5 * refPhi((z - m1) / sd) + 0.5 * refPhi((z - m2) / sd);
      expect(Math.abs(mixtureCdf(sut, z) - ref)).toBeLessThan(2e-7);
    }
  });

  it('is symmetric: F(2·x0 − z) = 1 − F(z)', () => {
    for (let z = sut.x0 - 8; z <= sut.x0 + 8; z += 0.31) {
      expect(mixtureCdf(sut, 2 * sut.x0 - z)).toBeCloseTo(1 - mixtureCdf(sut, z), 12);
    }
  });

  it('peaks at ≈ 0.9997 at x0 and falls to ≈ 0.12 in the tails (two-sided O3 formula)', () => {
    const two: GateCalibration = { ...sut, sided: 'two' };
    expect(gateWeight(two, two.x0)).toBeCloseTo(sigmoid(8), 6);
    expect(gateWeight(two, two.x0)).toBeCloseTo(0.9997, 4);
    expect(gateWeight(two, two.x0 - 50 * two.sigma)).toBeCloseTo(sigmoid(-2), 6);
    expect(gateWeight(two, two.x0 + 50 * two.sigma)).toBeCloseTo(0.1192, 4);
    // Reference value at an interior point, straight from the definition.
    const z = two.m2 - 0.7 * two.sigma;
    const f = 0.5 * refPhi((z - two.m1) / two.sigma) + 0.5 * refPhi((z - two.m2) / two.sigma);
    expect(gateWeight(two, z)).toBeCloseTo(sigmoid(10 * (1 - Math.abs(2 * f - 1)) - 2), 5);
  });

  it('one-sided (default) keeps the peak above x0 and matches the two-sided gate below it', () => {
    const two: GateCalibration = { ...sut, sided: 'two' };
    expect(sut.sided).toBe('one');
    expect(gateWeight(sut, sut.x0 + 50 * sut.sigma)).toBeCloseTo(sigmoid(8), 9);
    for (const dz of [0.1, 1, 3, 20]) expect(gateWeight(sut, sut.x0 - dz)).toBe(gateWeight(two, sut.x0 - dz));
    // Monotone non-decreasing in z.
    let prev = 0;
    for (let z = sut.x0 - 10; z <= sut.x0 + 2; z += 0.05) {
      const w = gateWeight(sut, z);
      expect(w).toBeGreaterThanOrEqual(prev - 1e-12);
      prev = w;
    }
  });
});

describe('calibrateGate guards', () => {
  it('σ = 0 on D_rest falls back to the pooled within-group std', () => {
    const sut = calibrateGate([4, 5, 6], [2, 2, 2]);
    expect(sut.guards).toEqual(['sigma-pooled']);
    expect(sut.sigma).toBeCloseTo(Math.sqrt(2 / 4), 12);
    expect(gateWeight(sut, sut.x0)).toBeCloseTo(sigmoid(8), 9);
  });

  it('one held-out item uses the pooled std and keeps w in (0.1192, 0.9997]', () => {
    const sut = calibrateGate([1, 2, 3, 4], [0]);
    expect(sut.guards).toEqual(['sigma-pooled']);
    expect(sut.m2).toBe(0);
    expect(sut.sigma).toBeCloseTo(Math.sqrt(5 / 3), 12);
    for (const z of [-100, -1, 0, 1.25, 100]) {
      const w = gateWeight(sut, z);
      expect(w).toBeGreaterThan(0.1192);
      expect(w).toBeLessThanOrEqual(sigmoid(8) + 1e-12);
    }
  });

  it('all scores equal (σ = 0 everywhere, m1 == m2) gets a finite floor σ: a sharp but sane step', () => {
    const sut = calibrateGate([3, 3], [3]);
    expect(sut.guards).toEqual(['sigma-pooled', 'sigma-floor']);
    expect(sut.sigma).toBeGreaterThan(0);
    expect(sut.x0).toBe(3);
    expect(gateWeight(sut, 3)).toBeCloseTo(sigmoid(8), 9);
    expect(gateWeight(sut, 2.9)).toBeCloseTo(sigmoid(-2), 6);
    expect(gateWeight({ ...sut, sided: 'two' }, 3.1)).toBeCloseTo(sigmoid(-2), 6);
  });

  it('m1 == m2 with spread: F is one Gaussian centred on x0', () => {
    const sut = calibrateGate([1, 3], [1, 3]);
    expect(sut.x0).toBe(2);
    expect(mixtureCdf(sut, 2)).toBeCloseTo(0.5, 7);
    expect(mixtureCdf(sut, 2 + sut.sigma)).toBeCloseTo(refPhi(1), 6);
  });

  it('no held-out item: m2 = m1, σ from D_used; empty D_used or NaN scores throw', () => {
    const sut = calibrateGate([1, 2, 3], []);
    expect(sut.guards).toEqual(['no-held-out', 'sigma-pooled']);
    expect(sut.m2).toBe(2);
    expect(sut.sigma).toBeCloseTo(1, 12);
    expect(() => calibrateGate([], [1])).toThrow();
    expect(() => calibrateGate([1, Number.NaN], [1])).toThrow();
  });

  it('a NaN score fails closed at the peak', () => {
    expect(gateWeight(calibrateGate([1, 2], [0, 1]), Number.NaN)).toBeCloseTo(sigmoid(8), 9);
  });
});

describe('applyGatePolicy', () => {
  it('soft: w itself, zero below the floor', () => {
    expect(applyGatePolicy(0.9, { name: 'soft' })).toBe(0.9);
    expect(applyGatePolicy(0.1192, { name: 'soft' })).toBe(0);
    expect(applyGatePolicy(0.3, { name: 'soft', floor: 0.5 })).toBe(0);
    expect(gatePolicyLabel({ name: 'soft', floor: 0.5 })).toBe('soft(floor=0.5)');
  });

  it('o3-hard: 1 above 0.32, 10·w² in (0.2, 0.32], else 0', () => {
    expect(applyGatePolicy(0.9997, { name: 'o3-hard' })).toBe(1);
    expect(applyGatePolicy(0.33, { name: 'o3-hard' })).toBe(1);
    expect(applyGatePolicy(0.3, { name: 'o3-hard' })).toBeCloseTo(0.9, 12);
    expect(applyGatePolicy(0.21, { name: 'o3-hard' })).toBeCloseTo(0.441, 12);
    expect(applyGatePolicy(0.2, { name: 'o3-hard' })).toBe(0);
    expect(applyGatePolicy(0.1192, { name: 'o3-hard' })).toBe(0);
    expect(gatePolicyLabel({ name: 'o3-hard' })).toBe('o3-hard');
  });
});

describe('calibrateAgainstNegatives', () => {
  const base = calibrateGate([10, 11, 12, 9, 10.5], [8, 9.5]);
  const strength = (cal: GateCalibration, z: number) => applyGatePolicy(gateWeight(cal, z));

  it('moves the gate until at most the allowed share of negatives gets any strength', () => {
    const negatives = Array.from({ length: 50 }, (_, i) => 4 + i * 0.1); // 4 .. 8.9, up to the held-out forget scores
    const before = negatives.filter((z) => strength(base, z) > 0).length;
    const { calibration, delta } = calibrateAgainstNegatives(base, [], negatives, { maxFalseFire: 0 });
    expect(before).toBeGreaterThan(0);
    expect(delta).toBeGreaterThan(0);
    expect(negatives.filter((z) => strength(calibration, z) > 0).length).toBeLessThanOrEqual(1);
    expect(calibration.sigma).toBe(base.sigma);
    expect(calibration.guards).toContain('negative-shift');
  });

  it('never gives up the recall of the positives, and places the gate midway into a margin', () => {
    const positives = [12, 13, 14, 15, 16];
    const negatives = [0, 1, 2];
    const { calibration } = calibrateAgainstNegatives(base, positives, negatives, { maxFalseFire: 0, minRecall: 1 });
    expect(positives.every((z) => strength(calibration, z) >= 0.5)).toBe(true);
    expect(negatives.every((z) => strength(calibration, z) === 0)).toBe(true);
    // Overlapping scores: recall wins, the negatives keep firing.
    const overlap = calibrateAgainstNegatives(base, [5, 6], [7, 8], { maxFalseFire: 0, minRecall: 1 });
    expect([5, 6].every((z) => strength(overlap.calibration, z) >= 0.5)).toBe(true);
  });

  it('leaves the calibration alone without negatives or for two-sided gates', () => {
    expect(calibrateAgainstNegatives(base, [1], []).delta).toBe(0);
    expect(calibrateAgainstNegatives({ ...base, sided: 'two' }, [1], [0]).delta).toBe(0);
    expect(shiftCalibration(base, 0)).toBe(base);
  });
});
