import '@tensorflow/tfjs'; // registers every tfjs-core gradient (see src/engine/gradients.ts)
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { deserializeDetector, serializeDetector } from './detector-codec.js';
import { fitDetector, scoreDetector, scoreDetectorBatch, splitIndices, toItemMajor, type LayerFeatures, type OodDetector } from './detector.js';
import { entityHash, promptEntityIndex } from './entity-match.js';
import { auroc, gateRates } from './metrics.js';
import { OodRandom } from './random.js';

/**
 * Synthetic "features": per layer a large offset shared by every prompt (hidden states are
 * anisotropic), plus a cluster centre (forget topic or one of 6 other topics), plus noise.
 */
function world(seed: number, layers = 3, d = 32) {
  const rng = new OodRandom(seed);
  const vec = (s: number) => Array.from({ length: d }, () => s * rng.normal());
  const offsets = Array.from({ length: layers }, () => vec(3));
  const centres = Array.from({ length: 7 }, () => Array.from({ length: layers }, () => vec(1)));
  const draw = (topic: number, noise = 0.45): LayerFeatures =>
    offsets.map((o, l) => Float32Array.from(o, (v, k) => v + centres[topic][l][k] + noise * rng.normal()));
  return { draw, rng };
}

describe('splitIndices', () => {
  it('splits 80/20 reproducibly and keeps both parts non-empty when it can', () => {
    const s = splitIndices(20, 0.8, 1);
    expect(s.used).toHaveLength(16);
    expect(s.rest).toHaveLength(4);
    expect([...s.used, ...s.rest].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(splitIndices(20, 0.8, 1)).toEqual(s);
    expect(splitIndices(2)).toMatchObject({ used: [expect.any(Number)], rest: [expect.any(Number)] });
    expect(splitIndices(1)).toEqual({ used: [0], rest: [] });
  });
});

describe('toItemMajor', () => {
  it('transposes the engine layer-major features without copying vectors', () => {
    const v = (x: number) => Float32Array.of(x);
    const layerMajor = [[v(1), v(2), v(3)], [v(4), v(5), v(6)]];
    const sut = toItemMajor(layerMajor);
    expect(sut.map((item) => item.map((f) => f[0]))).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(sut[1][0]).toBe(layerMajor[0][1]);
    expect(() => toItemMajor([[v(1)], []])).toThrow();
  });
});

describe('metrics', () => {
  it('AUROC counts ties as ½ (hand-computed), gate rates apply the policy', () => {
    expect(auroc([3, 2], [1, 2])).toBeCloseTo((2 + 1.5) / 4, 12);
    expect(auroc([1], [1])).toBe(0.5);
    expect(auroc([0.9, 0.8], [0.1, 0.2, 0.3])).toBe(1);
    expect(auroc([], [1])).toBeNaN();
    expect(gateRates([0.99, 0.3, 0.21, 0.12], [0.12, 0.33], { name: 'o3-hard' })).toEqual({ recall: 0.5, falseFireRate: 0.5 });
    expect(gateRates([0.99, 0.3], [0.12], { name: 'soft' }, 0.5)).toEqual({ recall: 0.5, falseFireRate: 0 });
  });
});

describe('fitDetector on synthetic Gaussian clusters (end to end)', () => {
  const { draw } = world(21);
  const forget = Array.from({ length: 20 }, () => draw(0));
  const masked = forget.map((f) => f.map((v) => Float32Array.from(v, (x) => x + 0.2 * Math.sin(x * 7))));
  const paraphrases = Array.from({ length: 40 }, () => draw(0));
  const others = Array.from({ length: 120 }, (_, i) => draw(1 + (i % 6)));

  function check(useCel: boolean): void {
    const sut = fitDetector({ features: forget, maskedFeatures: masked }, { useCel, seed: 5, cel: { epochs: 15 } });
    expect(sut.heads === null).toBe(!useCel);
    expect(sut.split.used).toHaveLength(16);
    expect(sut.calibration.guards).toEqual([]);
    const para = scoreDetectorBatch(sut, paraphrases);
    const oth = scoreDetectorBatch(sut, others);
    const seen = scoreDetectorBatch(sut, forget);
    const a = auroc(para.map((s) => s.z), oth.map((s) => s.z));
    expect(a).toBeGreaterThanOrEqual(0.97);
    const rates = gateRates(para.map((s) => s.w), oth.map((s) => s.w), { name: 'o3-hard' });
    expect(rates.recall).toBeGreaterThanOrEqual(0.85);
    expect(rates.falseFireRate).toBeLessThanOrEqual(0.05);
    // Every trained forget prompt fires; tails sit at the 0.12 floor.
    expect(gateRates(seen.map((s) => s.w), [], { name: 'o3-hard' }).recall).toBe(1);
    expect(Math.min(...oth.map((s) => s.w))).toBeGreaterThan(0.119);
  }

  it('training-free (no CEL): AUROC ≥ 0.97, gates fire on forget-like inputs and stay low elsewhere', () => check(false));

  it('with CEL heads: same guarantees', async () => {
    await initBackend();
    check(true);
  });

  it('round-trips through bytes with bit-identical scores', async () => {
    await initBackend();
    const sut = fitDetector({ features: forget, maskedFeatures: masked }, { useCel: true, seed: 2, cel: { epochs: 3 } });
    const bytes = serializeDetector(sut);
    const back = deserializeDetector(bytes);
    const probe = [...paraphrases.slice(0, 5), ...others.slice(0, 5)];
    expect(scoreDetectorBatch(back, probe)).toEqual(scoreDetectorBatch(sut, probe));
    expect(back.calibration).toEqual(sut.calibration);
    expect(() => deserializeDetector(bytes.slice(0, 100))).toThrow();
  });

  it('degenerate requests (one or two forget prompts) still give a sane gate', () => {
    for (const n of [1, 2]) {
      const sut = fitDetector({ features: forget.slice(0, n) }, { seed: 1 });
      expect(sut.calibration.guards.length).toBeGreaterThan(0);
      const w = scoreDetectorBatch(sut, [...forget.slice(0, n), ...others.slice(0, 20)]).map((s) => s.w);
      for (const v of w) expect(v).toBeGreaterThan(0.119), expect(v).toBeLessThan(1);
      expect(w[0]).toBeGreaterThan(0.99);
      expect(w.slice(n).filter((v) => v > 0.32)).toHaveLength(0);
    }
  });

  it('entity gates: a prompt naming the entity gets the peak whatever its features; `only` ignores features elsewhere, `or` keeps them', () => {
    const plain = fitDetector({ features: forget }, { seed: 3 });
    const named = promptEntityIndex('Where was Liker Sheseal born?');
    const other = promptEntityIndex('Where was Drabea Zaith born?');
    const only: OodDetector = { ...plain, entityHashes: [entityHash('Liker Sheseal')], entityMode: 'only' };
    const or: OodDetector = { ...only, entityMode: 'or' };
    const far = others[0];
    const near = paraphrases[0];
    expect(scoreDetector(only, far, named)).toMatchObject({ entity: true });
    expect(scoreDetector(only, far, named).w).toBeGreaterThan(0.99);
    expect(scoreDetector(only, near, other).w).toBeLessThan(0.2);
    expect(scoreDetector(or, near, other).w).toBe(scoreDetector(plain, near).w);
    // Without the prompt's text (older callers) the features decide.
    expect(scoreDetector(only, near).w).toBe(scoreDetector(plain, near).w);
    const back = deserializeDetector(serializeDetector(or));
    expect(back.entityHashes).toEqual(or.entityHashes);
    expect(back.entityMode).toBe('or');
    expect(deserializeDetector(serializeDetector(plain)).entityHashes).toBeUndefined();
  });

  it('rejects features of the wrong width', () => {
    const sut = fitDetector({ features: forget });
    expect(() => scoreDetectorBatch(sut, [[new Float32Array(3), new Float32Array(3), new Float32Array(3)]])).toThrow(/width/);
  });
});
