import { describe, expect, it } from 'vitest';
import type { PlanEntry, RoutingDecision } from '../api/types.js';
import { bucketRouting } from './routing-stats.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
type Entry = Pick<PlanEntry, 'adapterId' | 'strength'> & Partial<PlanEntry>;
const entry = (e: Entry): PlanEntry => ({ name: e.adapterId, version: 1, kind: 'unlearning', applied: e.strength > 0, reason: e.strength > 0 ? 'gate' : 'gate-closed', scores: {}, ...e });
const decision = (minute: number, entries: Entry[], at: string = new Date(T0 + minute * 60_000).toISOString()): RoutingDecision => ({
  id: `d${minute}`,
  requestId: `r${minute}`,
  endpoint: 'completions',
  promptIndex: 0,
  apiKeyId: null,
  keyId: null,
  model: 'tiny',
  mode: 'auto',
  plan: { mode: 'auto', entries: entries.map(entry) },
  adapterIds: entries.map((e) => e.adapterId),
  registryVersion: 1,
  policy: 'o3-hard',
  latencyMs: 1,
  promptTokens: 1,
  completionTokens: 1,
  createdAt: at,
});

describe('bucketRouting', () => {
  it('counts applied decisions per slice and averages their strengths', () => {
    const decisions = [
      decision(0, [{ adapterId: 'a', strength: 1, applied: true }]),
      decision(1, [{ adapterId: 'a', strength: 0.5, applied: true }, { adapterId: 'b', strength: 1 }]),
      decision(5, [{ adapterId: 'a', strength: 0, applied: false, reason: 'gate-closed' }]),
      decision(9, [{ adapterId: 'a', strength: 0.25 }]),
      decision(9, [{ adapterId: 'b', strength: 2 }]),
    ];
    const sut = bucketRouting(decisions, 'a', 2, T0, T0 + 10 * 60_000);
    expect(sut).toHaveLength(2);
    expect(sut[0]).toMatchObject({ applied: 2, listed: 2, meanStrength: 0.75, maxStrength: 1 });
    expect(sut[1]).toMatchObject({ applied: 1, listed: 2, meanStrength: 0.25, maxStrength: 0.25 });
    expect(sut[1]!.end).toBe(T0 + 10 * 60_000);
  });

  it('spans the decisions themselves by default, the last one in the last slice', () => {
    const sut = bucketRouting([decision(0, [{ adapterId: 'a', strength: 1 }]), decision(60, [{ adapterId: 'a', strength: 1 }])], 'a', 4);
    expect(sut.map((b) => b.applied)).toEqual([1, 0, 0, 1]);
  });

  it('is empty when the adapter never appears, and ignores decisions without a time', () => {
    expect(bucketRouting([decision(0, [{ adapterId: 'b', strength: 1 }])], 'a')).toEqual([]);
    expect(bucketRouting([decision(0, [{ adapterId: 'a', strength: 1 }], '')], 'a')).toEqual([]);
  });
});
