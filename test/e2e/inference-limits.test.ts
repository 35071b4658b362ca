import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { createModelFixture, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

describe('inference limits over HTTP', () => {
  let fixture: ModelFixture;

  beforeAll(async () => {
    fixture = await createModelFixture();
  });

  afterAll(async () => {
    await fixture?.dispose();
  });

  describe('request timeout', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp({ env: { LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1', LETHE_REQUEST_TIMEOUT_MS: '1', LETHE_BATCH_WINDOW_MS: '50' } });
      await app.app.get(ModelHost).whenReady();
    });
    afterAll(() => app?.close());

    it('answers 504 in the error shape when a request runs past LETHE_REQUEST_TIMEOUT_MS', async () => {
      const res = await http(app.baseUrl, 'POST', '/v1/completions', { key: app.adminKey, body: { model: 'tiny', prompt: 'hello', max_tokens: 30, temperature: 0 } });
      expect(res.status).toBe(504);
      expect(res.body.error).toMatchObject({ code: 'TIMEOUT', details: { timeoutMs: 1 } });
      expect(app.app.get(ModelHost).batcherStats()!.timeouts).toBeGreaterThanOrEqual(1);
    });
  });

  describe('model that cannot load', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp({ env: { LETHE_MODEL_DIR: `${fixture.dir}-missing`, LETHE_MODEL_ID: 'gone', LETHE_INFERENCE_WORKERS: '1' } });
      await app.app.get(ModelHost).whenReady().catch(() => undefined);
    });
    afterAll(() => app?.close());

    it('keeps the service alive but not ready: /readyz 503 naming the model, completions 503 without Retry-After, /v1/models empty', async () => {
      expect((await http(app.baseUrl, 'GET', '/healthz')).status).toBe(200);
      const ready = await http(app.baseUrl, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.error.message).toBe('not ready: model');
      expect(ready.body.error.details.checks.model).toMatchObject({ ok: false, detail: expect.stringMatching(/^failed: .*config\.json/) });
      const res = await http(app.baseUrl, 'POST', '/v1/completions', { key: app.adminKey, body: { model: 'gone', prompt: 'hello' } });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('UNAVAILABLE');
      expect(res.headers.get('retry-after')).toBeNull(); // a failed load does not heal by waiting
      expect((await http(app.baseUrl, 'GET', '/v1/models', { key: app.adminKey })).body).toEqual({ object: 'list', data: [] });
    });
  });
});
