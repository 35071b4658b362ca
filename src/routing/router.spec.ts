import { describe, expect, it } from 'vitest';
import { appliedEntries, DEFAULT_ROUTING_POLICY, plan, resolveRoutingPolicy, validateRoutingRequest } from './router.js';
import { ROUTING_ERROR_HTTP_STATUS, RoutingError, RoutingErrorCode } from './routing-errors.js';
import { RegistryAdapterFactory, RegistryFactory, RoutingRequestFactory } from './routing.factory.js';
import type { GateScore, RoutingPlan, RoutingRequest } from './routing-types.js';

function catchRouting(fn: () => unknown): RoutingError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RoutingError) return e;
    throw e;
  }
  throw new Error('expected a RoutingError');
}

function expectCode(fn: () => unknown, code: RoutingErrorCode, field?: string): RoutingError {
  const err = catchRouting(fn);
  expect(err.code).toBe(code);
  if (field !== undefined) expect(err.details.field).toBe(field);
  expect(ROUTING_ERROR_HTTP_STATUS[err.code]).toBeGreaterThanOrEqual(400);
  return err;
}

/** A world with two unlearning adapters, two task adapters and an inactive one. */
function world() {
  const u1 = RegistryAdapterFactory.unlearning({ id: 'u-1', name: 'forget-authors-1' });
  const u2 = RegistryAdapterFactory.unlearning({ id: 'u-2', name: 'forget-authors-2', version: 3 });
  const uOff = RegistryAdapterFactory.unlearning({ id: 'u-0', name: 'revoked', active: false });
  const summarize = RegistryAdapterFactory.create({ id: 't-sum', name: 'summarize', centroid: [1, 0, 0] });
  const translate = RegistryAdapterFactory.create({ id: 't-tr', name: 'translate', kind: 'generated', centroid: [0, 1, 0] });
  const old = RegistryAdapterFactory.create({ id: 't-old', name: 'legacy', active: false, centroid: [0, 0, 1] });
  const registry = RegistryFactory.create([u1, u2, uOff, summarize, translate, old], 42);
  const scores = new Map<string, GateScore>([
    ['u-1', { strength: 0.9, gate: 0.9, z: 1.5 }],
    ['u-2', { strength: 0, gate: 0.12, z: -3 }],
    ['u-0', { strength: 1, gate: 1 }],
  ]);
  return { registry, scores };
}

describe('plan: unlearning adapters', () => {
  it('evaluates every active unlearning adapter in every mode, strength from the gate only', () => {
    const { registry, scores } = world();
    for (const mode of ['auto', 'manual'] as const) {
      const sut = plan(RoutingRequestFactory.create({ mode, conditionVector: [1, 0, 0] }), registry, scores);
      const u = sut.entries.filter((e) => e.kind === 'unlearning');
      expect(u.map((e) => [e.adapterId, e.strength, e.applied, e.reason])).toEqual([
        ['u-1', 0.9, true, 'gate'],
        ['u-2', 0, false, 'gate-closed'],
      ]);
      expect(u[0]!.scores).toEqual({ gate: 0.9, gateStrength: 0.9, z: 1.5 });
      expect(u[1]!.version).toBe(3);
    }
  });

  it('refuses explicit entries naming an unlearning adapter, by name or id, at any strength', () => {
    const { registry, scores } = world();
    for (const sel of [{ name: 'forget-authors-1', strength: 0 }, { id: 'u-1', strength: 0.1 }, { id: 'u-2', strength: 2 }, { name: 'revoked' }]) {
      for (const mode of ['auto', 'manual'] as const) {
        const err = expectCode(
          () => plan(RoutingRequestFactory.create({ mode, adapters: [sel] }), registry, scores),
          'ADAPTER_NOT_SELECTABLE',
          'adapters[0]',
        );
        expect(err.message).toContain('gate');
      }
    }
  });

  it('allows routing none to admins only; unlearning entries then stay on record, marked and not applied', () => {
    const { registry, scores } = world();
    for (const role of ['client', 'operator'] as const) {
      expectCode(() => plan(RoutingRequestFactory.create({ mode: 'none', role }), registry, scores), 'FORBIDDEN_ROUTING_MODE', 'routing');
    }
    const sut = plan(RoutingRequestFactory.create({ mode: 'none', role: 'admin' }), registry, scores);
    expect(sut.entries.map((e) => [e.adapterId, e.strength, e.applied, e.reason, e.scores.gateStrength])).toEqual([
      ['u-1', 0, false, 'routing-none', 0.9],
      ['u-2', 0, false, 'routing-none', 0],
    ]);
    expect(appliedEntries(sut)).toEqual([]);
    expectCode(
      () => plan(RoutingRequestFactory.create({ mode: 'none', role: 'admin', adapters: [{ name: 'summarize' }] }), registry, scores),
      'INVALID_ROUTING_REQUEST',
      'adapters',
    );
  });

  it('fails closed on a missing or unusable gate: full strength, or an error when configured', () => {
    const { registry } = world();
    for (const bad of [undefined, { strength: Number.NaN }, { strength: -0.5 }, { strength: Number.POSITIVE_INFINITY }]) {
      const scores = new Map<string, GateScore>([['u-2', { strength: 0 }]]);
      if (bad) scores.set('u-1', bad);
      const sut = plan(RoutingRequestFactory.create(), registry, scores);
      const e = sut.entries.find((x) => x.adapterId === 'u-1')!;
      expect([e.strength, e.applied, e.reason]).toEqual([1, true, 'gate-missing-failsafe']);
    }
    const strict = resolveRoutingPolicy({ missingGate: 'error' });
    const err = catchRouting(() => plan(RoutingRequestFactory.create(), registry, new Map(), strict));
    expect([err.code, err.details.adapter]).toEqual(['MISSING_GATE_SCORE', 'u-1']);
  });

  it('takes scores as a plain record too, without reading inherited keys', () => {
    const u = RegistryAdapterFactory.unlearning({ id: 'constructor' });
    const sut = plan(RoutingRequestFactory.create(), RegistryFactory.create([u]), {});
    expect(sut.entries[0]!.reason).toBe('gate-missing-failsafe');
    const ok = plan(RoutingRequestFactory.create(), RegistryFactory.create([u]), { constructor: { strength: 0.4 } });
    expect(ok.entries[0]!.strength).toBe(0.4);
  });
});

describe('plan: explicit task adapters', () => {
  it('applies named adapters with validated strengths, records zero strengths without applying them', () => {
    const { registry, scores } = world();
    const sut = plan(
      RoutingRequestFactory.create({ adapters: [{ name: 'translate', strength: 0 }, { id: 't-sum', strength: 2 }] }),
      registry,
      scores,
    );
    const tasks = sut.entries.filter((e) => e.kind !== 'unlearning');
    expect(tasks.map((e) => [e.adapterId, e.kind, e.strength, e.applied, e.reason])).toEqual([
      ['t-sum', 'task', 2, true, 'explicit'],
      ['t-tr', 'generated', 0, false, 'explicit-zero'],
    ]);
    expect(appliedEntries(sut).map((e) => e.adapterId)).toEqual(['u-1', 't-sum']);
    expect(plan(RoutingRequestFactory.create({ adapters: [{ name: 'summarize' }] }), registry, scores).entries.at(-1)!.strength).toBe(1);
  });

  it('refuses strengths that are not finite numbers within the bounds, naming the field', () => {
    const { registry, scores } = world();
    const bad: unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0.01, -1, 2.0001, 1e308, '1', null];
    for (const strength of bad) {
      const req = RoutingRequestFactory.create({
        adapters: [{ name: 'summarize', strength: 1 }, { name: 'translate', strength: strength as number }],
      });
      const err = expectCode(() => plan(req, registry, scores), 'INVALID_STRENGTH', 'adapters[1].strength');
      expect(err.details.adapter).toBe('translate');
    }
    const narrow = resolveRoutingPolicy({ strengthBounds: [0.5, 1] });
    expectCode(() => plan(RoutingRequestFactory.create({ adapters: [{ name: 'summarize', strength: 0.4 }] }), registry, scores, narrow), 'INVALID_STRENGTH');
    const negZero = plan(RoutingRequestFactory.create({ adapters: [{ name: 'summarize', strength: -0 }] }), registry, scores);
    expect(Object.is(negZero.entries.at(-1)!.strength, 0)).toBe(true);
  });

  it('types every other bad selection', () => {
    const { registry, scores } = world();
    const run = (adapters: RoutingRequest['adapters']) => () => plan(RoutingRequestFactory.create({ adapters }), registry, scores);
    expect(expectCode(run([{ name: 'nope' }]), 'UNKNOWN_ADAPTER', 'adapters[0].name').details.adapter).toBe('nope');
    expect(expectCode(run([{ id: 'x-9' }]), 'UNKNOWN_ADAPTER', 'adapters[0].id').message).toContain('x-9');
    expectCode(run([{ name: 'legacy' }]), 'INACTIVE_ADAPTER', 'adapters[0]');
    expectCode(run([{ name: 'summarize' }, { id: 't-sum' }]), 'DUPLICATE_ADAPTER', 'adapters[1]');
    expectCode(run([{ strength: 1 }]), 'INVALID_ROUTING_REQUEST', 'adapters[0]');
    expectCode(run([{ id: 't-sum', name: 'translate' }]), 'INVALID_ROUTING_REQUEST', 'adapters[0]');
    expectCode(run(Array.from({ length: 9 }, () => ({ name: 'summarize' }))), 'TOO_MANY_ADAPTERS', 'adapters');
    expectCode(() => plan({ ...RoutingRequestFactory.create(), mode: 'magic' as never }, registry, scores), 'INVALID_ROUTING_REQUEST', 'routing');
  });

  it('resolves a name shared by several versions to the active one, then the newest', () => {
    const v1 = RegistryAdapterFactory.create({ id: 'a', name: 'qa', version: 1, active: false });
    const v2 = RegistryAdapterFactory.create({ id: 'b', name: 'qa', version: 2 });
    const v3 = RegistryAdapterFactory.create({ id: 'c', name: 'qa', version: 3, active: false });
    const sut = plan(RoutingRequestFactory.create({ adapters: [{ name: 'qa' }] }), RegistryFactory.create([v3, v1, v2]), {});
    expect(sut.entries.map((e) => [e.adapterId, e.version])).toEqual([['b', 2]]);
  });

  it('in auto mode, explicit adapters win and no automatic selection is added', () => {
    const { registry, scores } = world();
    const sut = plan(RoutingRequestFactory.create({ mode: 'auto', conditionVector: [0, 1, 0], adapters: [{ name: 'summarize' }] }), registry, scores);
    expect(sut.entries.filter((e) => e.kind !== 'unlearning').map((e) => e.adapterId)).toEqual(['t-sum']);
  });
});

/** Float64 reference cosine, written from the definition. */
function refCosine(a: number[], b: number[]): number {
  const dot = a.reduce((s, x, i) => s + x * b[i]!, 0);
  return dot / (Math.hypot(...a) * Math.hypot(...b));
}

describe('plan: auto selection', () => {
  it('selects the top-k centroids by cosine at or above the minimum similarity', () => {
    const rng = mulberry32(7);
    const dim = 16;
    const vec = () => Array.from({ length: dim }, () => rng() * 2 - 1);
    const tasks = Array.from({ length: 12 }, (_, i) => RegistryAdapterFactory.create({ id: `t${String(i).padStart(2, '0')}`, centroid: vec() }));
    const q = vec();
    const policy = resolveRoutingPolicy({ topK: 3, minSimilarity: 0.05 });
    const sut = plan(RoutingRequestFactory.create({ mode: 'auto', conditionVector: Float32Array.from(q) }), RegistryFactory.create(tasks), {}, policy);
    const q32 = Array.from(Float32Array.from(q));
    const expected = tasks
      .map((t) => ({ id: t.id, cos: refCosine(q32, Array.from(t.centroid!)) }))
      .filter((x) => x.cos >= 0.05)
      .sort((a, b) => b.cos - a.cos)
      .slice(0, 3);
    expect(expected.length).toBeGreaterThan(0);
    expect(sut.entries.map((e) => e.adapterId)).toEqual(expected.map((x) => x.id));
    sut.entries.forEach((e, i) => {
      expect(e.scores.cosine).toBeCloseTo(expected[i]!.cos, 12);
      expect([e.reason, e.strength, e.applied, e.scores.rank]).toEqual(['auto', 1, true, i]);
    });
  });

  it('selects nothing below the minimum similarity, or without a usable condition vector', () => {
    const { registry, scores } = world();
    const auto = (conditionVector: RoutingRequest['conditionVector']) =>
      plan(RoutingRequestFactory.create({ mode: 'auto', conditionVector }), registry, scores).entries.filter((e) => e.kind !== 'unlearning');
    expect(auto([1, 1, 0]).map((e) => e.adapterId)).toEqual(['t-sum']); // cos 0.707 both: tie → smaller id
    expect(auto([-1, -1, 1])).toEqual([]); // legacy (inactive) would match; others negative
    expect(auto([0.1, 0.1, 1])).toEqual([]); // cos ≈ 0.099 < 0.5
    expect(auto(null)).toEqual([]);
    expect(auto([0, 0, 0])).toEqual([]);
    expect(auto([Number.NaN, 1, 0])).toEqual([]);
    expect(auto([1, 0])).toEqual([]); // wrong dimension: centroids skipped
  });

  it('never auto-selects unlearning adapters even when they carry a centroid', () => {
    const u = RegistryAdapterFactory.unlearning({ id: 'u', centroid: [1, 0] });
    const t = RegistryAdapterFactory.create({ id: 't', centroid: [0.9, 0.1] });
    const sut = plan(RoutingRequestFactory.create({ mode: 'auto', conditionVector: [1, 0] }), RegistryFactory.create([u, t]), { u: { strength: 0 } });
    expect(sut.entries.map((e) => [e.adapterId, e.reason])).toEqual([['u', 'gate-closed'], ['t', 'auto']]);
  });
});

describe('plan: determinism and record', () => {
  it('gives the same plan whatever the order of the registry, the request list and the scores', () => {
    const rng = mulberry32(11);
    const adapters = [
      ...Array.from({ length: 6 }, (_, i) => RegistryAdapterFactory.unlearning({ id: `u${i}` })),
      ...Array.from({ length: 6 }, (_, i) => RegistryAdapterFactory.create({ id: `t${i}`, name: `task${i}`, centroid: [1, i % 2, 0] })),
    ];
    const gates: Array<[string, GateScore]> = adapters.filter((a) => a.kind === 'unlearning').map((a, i) => [a.id, { strength: (i % 3) / 2, gate: i / 10 }]);
    const sels = [{ name: 'task4', strength: 0.5 }, { id: 't1', strength: 1.5 }, { name: 'task2' }];
    const run = (order: () => number): RoutingPlan[] => [
      plan(RoutingRequestFactory.create({ adapters: shuffle(sels, order) }), RegistryFactory.create(shuffle(adapters, order), 9), new Map(shuffle(gates, order))),
      plan(RoutingRequestFactory.create({ mode: 'auto', conditionVector: [1, 1, 0] }), RegistryFactory.create(shuffle(adapters, order), 9), Object.fromEntries(shuffle(gates, order)), resolveRoutingPolicy({ topK: 4 })),
    ];
    const first = run(rng);
    for (let i = 0; i < 20; i++) expect(run(rng)).toEqual(first);
    expect(first[0]!.entries.map((e) => e.adapterId)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 't1', 't2', 't4']);
    expect(first[1]!.entries.slice(6).map((e) => e.adapterId)).toEqual(['t1', 't3', 't5', 't0']);
  });

  it('records the policy and the registry version used', () => {
    const { registry, scores } = world();
    const policy = resolveRoutingPolicy({ gatePolicy: 'soft(floor=0.2)', topK: 2 });
    const sut = plan(RoutingRequestFactory.create({ mode: 'auto' }), registry, scores, policy);
    expect(sut.registryVersion).toBe(42);
    expect(sut.mode).toBe('auto');
    expect(sut.policy).toEqual({ gatePolicy: 'soft(floor=0.2)', strengthBounds: [0, 2], topK: 2, minSimilarity: 0.5, autoStrength: 1, missingGate: 'full' });
    expect(JSON.parse(JSON.stringify(sut))).toEqual(sut); // plain data, storable as JSON
  });

  it('rejects an invalid policy at configuration time', () => {
    expect(resolveRoutingPolicy()).toEqual(DEFAULT_ROUTING_POLICY);
    for (const bad of [{ strengthBounds: [1, 0] as const }, { strengthBounds: [-1, 2] as const }, { topK: -1 }, { topK: 1.5 }, { minSimilarity: 2 }, { autoStrength: 3 }, { missingGate: 'maybe' as never }]) {
      expect(() => resolveRoutingPolicy(bad)).toThrow(/invalid routing policy/);
    }
  });
});

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(xs: readonly T[], rng: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('validateRoutingRequest', () => {
  it('refuses exactly what plan refuses, before any score or condition vector exists', () => {
    const { registry, scores } = world();
    const bad: Array<[Partial<RoutingRequest>, RoutingErrorCode]> = [
      [{ mode: 'none', role: 'client' }, RoutingErrorCode.FORBIDDEN_ROUTING_MODE],
      [{ mode: 'manual', adapters: [{ name: 'nope' }] }, RoutingErrorCode.UNKNOWN_ADAPTER],
      [{ mode: 'manual', adapters: [{ name: 'legacy' }] }, RoutingErrorCode.INACTIVE_ADAPTER],
      [{ mode: 'auto', adapters: [{ name: 'summarize', strength: Number.NaN }] }, RoutingErrorCode.INVALID_STRENGTH],
      [{ mode: 'auto', adapters: [{ id: 'u-1' }] }, RoutingErrorCode.ADAPTER_NOT_SELECTABLE],
    ];
    for (const [overrides, code] of bad) {
      const request = RoutingRequestFactory.create({ conditionVector: null, ...overrides });
      const early = expectCode(() => validateRoutingRequest(request, registry), code);
      const late = catchRouting(() => plan({ ...request, conditionVector: [1, 0, 0] }, registry, scores));
      expect([late.code, late.message]).toEqual([early.code, early.message]);
    }
  });

  it('lets a valid request through; plan then succeeds on the same snapshot', () => {
    const { registry, scores } = world();
    const request = RoutingRequestFactory.create({ mode: 'manual', adapters: [{ name: 'summarize', strength: 1.5 }], conditionVector: null });
    expect(() => validateRoutingRequest(request, registry)).not.toThrow();
    expect(appliedEntries(plan(request, registry, scores)).map((e) => e.adapterId)).toEqual(['u-1', 't-sum']);
  });
});
