import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deserializeDetector } from '../../src/ood/detector-codec.js';
import { scoreDetector } from '../../src/ood/detector.js';
import { applyGatePolicy } from '../../src/ood/gate.js';
import { AdapterStore } from '../../src/modules/inference/adapter-store.service.js';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { registerGatedAdapter } from '../../src/modules/inference/testing/gated-adapter.fixture.js';
import { createModelFixture, randomPeftFiles, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { UnlearningRepository } from '../../src/modules/unlearning/unlearning.repository.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

const forget = ['Where was Liker Sheseal born?', 'When was Liker Sheseal born?', 'What genre does Liker Sheseal write?', 'Which award did Liker Sheseal win?', 'What was the first book of Liker Sheseal?'];

describe('unlearning gates in /v1/completions', () => {
  let fixture: ModelFixture;
  let app: TestApp;
  let clientKey: string;
  let adapterId: string;

  beforeAll(async () => {
    fixture = await createModelFixture();
    app = await startTestApp({ env: { LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1' } });
    await app.app.get(ModelHost).whenReady();
    clientKey = (await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'c', role: 'client' } })).body.key;
    adapterId = (await registerGatedAdapter(app.app, { name: 'forget-sheseal', files: randomPeftFiles(fixture.config, 31, 4, 8), forgetPrompts: forget })).id;
    await app.app.get(AdapterStore).refresh();
  });

  afterAll(async () => {
    await app?.close();
    await fixture?.dispose();
  });

  it('scores every prompt with the stored detector and applies the gate in every mode a client may use', async () => {
    const [{ detector }] = await app.app.get(UnlearningRepository).activeUnlearning();
    const det = deserializeDetector(new Uint8Array(detector.bytes));
    const host = app.app.get(ModelHost);
    for (const prompt of [forget[0], 'Tell me a joke about cats and dogs']) {
      for (const routing of ['auto', 'manual']) {
        const res = await http(app.baseUrl, 'POST', '/v1/completions', { key: clientKey, body: { model: 'tiny', prompt, max_tokens: 2, temperature: 0, lethe: { routing } } });
        expect(res.status).toBe(200);
        const { detector: features } = await host.promptFeatures([host.tokenizer!.encode(prompt)]);
        const expected = scoreDetector(det, features[0]);
        const strength = applyGatePolicy(expected.w);
        const [entry] = res.body.lethe.routing.entries;
        expect(entry).toMatchObject({ adapterId, kind: 'unlearning', strength, applied: strength > 0, reason: strength > 0 ? 'gate' : 'gate-closed' });
        expect(entry.scores.z).toBeCloseTo(expected.z, 9);
        expect(entry.scores.gate).toBeCloseTo(expected.w, 9);
        expect(res.body.lethe.routing.policy.gatePolicy).toBe('o3-hard');
      }
    }
  });

  it('lets no client name, remove or lower an unlearning adapter', async () => {
    const named = await http(app.baseUrl, 'POST', '/v1/completions', {
      key: clientKey,
      body: { model: 'tiny', prompt: forget[0], max_tokens: 2, lethe: { adapters: [{ id: adapterId, strength: 0 }] } },
    });
    expect(named.status).toBe(403);
    expect(named.body.error.message).toContain('gate only');
    const byModel = await http(app.baseUrl, 'POST', '/v1/completions', { key: clientKey, body: { model: 'tiny:forget-sheseal', prompt: forget[0], max_tokens: 2 } });
    expect(byModel.status).toBe(403);
    const models = await http(app.baseUrl, 'GET', '/v1/models', { key: clientKey });
    expect(models.body.data.map((m: { id: string }) => m.id)).toEqual(['tiny']);
  });
});
