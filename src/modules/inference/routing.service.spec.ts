import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/config.js';
import type { GateScores, RegistrySnapshot } from '../../routing/routing-types.js';
import type { AdapterStore } from './adapter-store.service.js';
import type { ModelHost } from './model-host.service.js';
import { RoutingService, type GateScoreProvider, type ScoredPrompt } from './routing.service.js';

const unlearningOnly: RegistrySnapshot = {
  registryVersion: 3,
  adapters: [
    { id: 'u1', name: 'forget-1', version: 1, kind: 'unlearning', active: true },
    { id: 't1', name: 'task', version: 2, kind: 'task', active: true },
  ],
};
const withAutoTask: RegistrySnapshot = {
  registryVersion: 4,
  adapters: [...unlearningOnly.adapters.slice(0, 1), { id: 't1', name: 'task', version: 2, kind: 'task', active: true, centroid: [1, 0] }],
};

/** Entity gates: a prompt naming "Ada" fires u1, others settle at 0; prompts with "?" need features. */
class EntityGates implements GateScoreProvider {
  readonly scored: string[] = [];
  private gate(text: string): GateScores {
    const fire = text.includes('Ada');
    return new Map([['u1', { strength: fire ? 1 : 0, gate: fire ? 1 : 0, entity: fire ? 1 : 0 }]]);
  }
  async scores(prompts: ScoredPrompt[]): Promise<GateScores[]> {
    this.scored.push(...prompts.map((p) => p.text));
    return prompts.map((p) => this.gate(p.text));
  }
  async settledScores(prompts: Array<{ text: string }>): Promise<Array<GateScores | undefined>> {
    return prompts.map((p) => (p.text.includes('?') ? undefined : this.gate(p.text)));
  }
}

function service(registry: RegistrySnapshot, env: Record<string, string> = {}) {
  const passes: number[][][] = [];
  const speculated: unknown[] = [];
  const host = {
    promptFeatures: async (prompts: number[][], options: { speculate?: unknown }) => {
      passes.push(prompts);
      speculated.push(options.speculate);
      return { last: prompts.map(() => new Float32Array([0, 1])), detector: prompts.map(() => [new Float32Array(2)]) };
    },
  } as unknown as ModelHost;
  const store = { routingSnapshot: () => registry } as unknown as AdapterStore;
  const gates = new EntityGates();
  return { sut: new RoutingService(loadConfig(env), store, host, gates), passes, gates, speculated };
}

const prompt = (text: string, i: number) => ({ text, tokens: [i + 1, i + 2] });

describe('RoutingService: the features pass runs only when something reads it', () => {
  it('plans prompts whose gates the entities settle without a features pass (no auto adapter), applying the gate that fires', async () => {
    const { sut, passes, gates } = service(unlearningOnly);
    const plans = await sut.route({ mode: 'auto', adapters: [], role: 'client', prompts: ['Who taught Ada?', 'Where was Ada born', 'Name a river'].map(prompt).slice(1) });
    expect(passes).toHaveLength(0);
    expect(gates.scored).toHaveLength(0);
    expect(plans.map((p) => p.entries.filter((e) => e.applied).map((e) => e.adapterId))).toEqual([['u1'], []]);
    expect(plans[0].entries[0]).toMatchObject({ adapterId: 'u1', applied: true, strength: 1 });
  });

  it('runs one features pass when a gate needs the features, and then scores every prompt from them', async () => {
    const { sut, passes, gates } = service(unlearningOnly);
    const plans = await sut.route({ mode: 'auto', adapters: [], role: 'client', prompts: ['Who taught Ada?', 'Name a river'].map(prompt) });
    expect(passes).toHaveLength(1);
    expect(gates.scored).toEqual(['Who taught Ada?', 'Name a river']);
    expect(plans.map((p) => p.entries.filter((e) => e.applied).map((e) => e.adapterId))).toEqual([['u1'], []]);
  });

  it('runs the features pass for auto routing\'s condition vector even when every gate is settled', async () => {
    const { sut, passes } = service(withAutoTask);
    await sut.route({ mode: 'auto', adapters: [], role: 'client', prompts: ['Name a river'].map(prompt) });
    expect(passes).toHaveLength(1);
    // A request naming its adapter needs no condition vector: no pass.
    await sut.route({ mode: 'auto', adapters: [{ name: 'task' }], role: 'client', prompts: ['Name a river'].map(prompt) });
    expect(passes).toHaveLength(1);
  });

  it('with LETHE_ROUTING_SPECULATIVE_PREFILL, the pass that auto routing needs also prefills the plan the entity gates settle', async () => {
    const { sut, passes, speculated } = service(withAutoTask, { LETHE_ROUTING_SPECULATIVE_PREFILL: 'true' });
    await sut.route({ mode: 'auto', adapters: [], role: 'client', prompts: ['Where was Ada born', 'Name a river', 'Who taught Ada?'].map(prompt) });
    expect(passes).toHaveLength(1);
    // Prompt 0: its settled gate fires u1; prompt 1: nothing to apply; prompt 2: its gate needs the features, no guess.
    expect(speculated[0]).toEqual([[[{ id: 'u1', version: 1, strength: 1 }]], [], []]);
  });
});
