import { describe, expect, it } from 'vitest';
import { DEFAULT_ROUTING_POLICY, plan, appliedEntries } from '../../routing/router.js';
import type { GateScores, RegistrySnapshot } from '../../routing/routing-types.js';
import { guessPlans, type RouteInput } from './routing.service.js';

const registry: RegistrySnapshot = {
  registryVersion: 7,
  adapters: [
    { id: 'u1', name: 'forget-1', version: 1, kind: 'unlearning', active: true },
    { id: 'u2', name: 'forget-2', version: 3, kind: 'unlearning', active: true },
    { id: 't1', name: 'task', version: 2, kind: 'task', active: true, centroid: [1, 0, 0] },
  ],
};

const input = (n: number, over: Partial<RouteInput> = {}): RouteInput => ({
  mode: 'auto',
  adapters: [],
  role: 'client',
  prompts: Array.from({ length: n }, (_, i) => ({ text: `prompt ${i}`, tokens: [i + 1] })),
  ...over,
});

describe('guessPlans (the routing pass\'s speculative plan)', () => {
  it('is the plan the entity gates settle, without auto adapters, and the plan made from the same gates agrees with it', () => {
    const settled: Array<GateScores | undefined> = [
      new Map([
        ['u1', { strength: 1, gate: 1 }],
        ['u2', { strength: 0, gate: 0 }],
      ]),
      new Map([
        ['u1', { strength: 0, gate: 0 }],
        ['u2', { strength: 0, gate: 0 }],
      ]),
      undefined, // its gates need the features: no guess
    ];
    const sut = guessPlans(input(3), registry, settled, DEFAULT_ROUTING_POLICY);
    expect(sut).toEqual([[[{ id: 'u1', version: 1, strength: 1 }]], [], []]);
    // The real plan, made later from the same gates and a condition vector far from the task
    // centroid, applies exactly the guessed entries (so the kept prefill is taken).
    const real = plan({ mode: 'auto', adapters: [], role: 'client', conditionVector: [0, 1, 0] }, registry, settled[0]!, DEFAULT_ROUTING_POLICY);
    expect(appliedEntries(real).map((e) => ({ id: e.adapterId, version: e.version, strength: e.strength }))).toEqual(sut[0][0]);
  });

  it('guesses the named task adapter of a manual request, and nothing for a request the router refuses', () => {
    const none = new Map([
      ['u1', { strength: 0 }],
      ['u2', { strength: 0 }],
    ]);
    expect(guessPlans(input(1, { mode: 'manual', adapters: [{ name: 'task', strength: 0.5 }] }), registry, [none], DEFAULT_ROUTING_POLICY)).toEqual([[[{ id: 't1', version: 2, strength: 0.5 }]]]);
    expect(guessPlans(input(1, { mode: 'manual', adapters: [{ name: 'forget-1' }] }), registry, [none], DEFAULT_ROUTING_POLICY)).toEqual([[]]);
  });
});
