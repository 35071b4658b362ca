import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterRegistryService } from '../../src/modules/adapters/adapter-registry.service.js';
import { AdapterStore } from '../../src/modules/inference/adapter-store.service.js';
import type { EngineClient } from '../../src/serving/engine-client.js';
import type { EngineFeatures } from '../../src/serving/inference-engine.js';
import { ModelHost, type HostPlan } from '../../src/modules/inference/model-host.service.js';
import { createModelFixture, randomPeftFiles, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { startTestApp, type TestApp } from '../support/app.js';

const options = { maxTokens: 6, temperature: 0, topP: 1, stop: [] as string[] };
const prompts = [
  [5, 17, 42, 8, 99],
  [7, 3, 250],
  [11, 12, 13, 14, 15, 16, 17],
];

describe('model host: plans that arrive during the batching window, coalesced feature passes', () => {
  let fixture: ModelFixture;
  let app: TestApp;
  let host: ModelHost;
  let task: HostPlan;

  beforeAll(async () => {
    fixture = await createModelFixture();
    // A long window, so every job of a test lands in one batch while its plan is still pending.
    app = await startTestApp({ env: { LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1', LETHE_BATCH_WINDOW_MS: '200', LETHE_BATCH_MAX_SIZE: '8' } });
    host = app.app.get(ModelHost);
    await host.whenReady();
    const registry = app.app.get(AdapterRegistryService);
    const files = randomPeftFiles(fixture.config, 3, 4, 8, 1);
    const created = await registry.create(
      { name: 'task-a', kind: 'task', baseModel: 'tiny', rank: 4, alpha: 8, targetModules: files.adapterConfig.target_modules as string[], weights: files.weights },
      'system',
    );
    const active = await registry.activate(created.id, 'system');
    await app.app.get(AdapterStore).refresh();
    task = [{ id: active.id, version: active.version, strength: 1 }];
  });

  afterAll(async () => {
    await app?.close();
    await fixture?.dispose();
  });

  it('waits for a pending plan, applies it, and fails only the job whose plan was rejected', async () => {
    const later = <T>(value: T, ms: number) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));
    const [plain, planned, refused] = await Promise.allSettled([
      host.submit({ prompt: prompts[0], plan: [], options }),
      host.submit({ prompt: prompts[0], plan: later(task, 50), options }),
      host.submit({ prompt: prompts[1], plan: later(null, 20).then(() => Promise.reject(new Error('routing failed: detector unavailable'))), options }),
    ]);
    expect(refused).toMatchObject({ status: 'rejected', reason: { message: 'routing failed: detector unavailable' } });
    // Each answered job matches the same job submitted alone with its plan given up front.
    const alonePlain = await host.submit({ prompt: prompts[0], plan: [], options });
    const alonePlanned = await host.submit({ prompt: prompts[0], plan: task, options });
    expect(plain).toEqual({ status: 'fulfilled', value: alonePlain });
    expect(planned).toEqual({ status: 'fulfilled', value: alonePlanned });
    // The adapter was applied: with these random weights it changes the answer.
    expect(alonePlanned.text).not.toBe(alonePlain.text);
  });

  it('runs concurrent feature requests as one engine call, each prompt getting its features from alone', async () => {
    const alone: EngineFeatures[] = [];
    for (const p of prompts) alone.push(await host.promptFeatures([p]));
    const engine = (host as unknown as { engines: EngineClient[] }).engines[0];
    const calls: number[] = [];
    const original = engine.features.bind(engine);
    engine.features = (ps, o) => {
      calls.push(ps.length);
      return original(ps, o);
    };
    try {
      const together = await Promise.all(prompts.map((p) => host.promptFeatures([p])));
      // Calls made while no pass has started yet share one batched prefill.
      expect(calls).toEqual([3]);
      together.forEach((f, i) => {
        expect(f.last).toHaveLength(1);
        expect(f.detector[0]).toHaveLength(alone[i].detector[0].length);
        const diff = Math.max(...f.last[0].map((x, k) => Math.abs(x - alone[i].last[0][k])));
        expect(diff).toBeLessThan(1e-4);
      });
    } finally {
      engine.features = original;
    }
  });
});
