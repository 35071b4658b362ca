import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterRegistryService } from '../../src/modules/adapters/adapter-registry.service.js';
import { AdapterStore } from '../../src/modules/inference/adapter-store.service.js';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { createModelFixture, randomPeftFiles, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { http, startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

// Two replicas need a Postgres server (an embedded data folder opens in one process only). CI sets
// DATABASE_URL (.ci/run); on a developer machine the local server is used.
process.env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/postgres';

describe('adapter cache invalidation across two app instances on one database', () => {
  let fixture: ModelFixture;
  let db: TestDatabase;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    fixture = await createModelFixture();
    db = await createTestDatabase('postgres');
    const env = { LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1' };
    a = await startTestApp({ database: db, env });
    b = await startTestApp({ database: db, env, adminKey: a.adminKey });
    await Promise.all([a.app.get(ModelHost).whenReady(), b.app.get(ModelHost).whenReady()]);
  });

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await db?.dispose();
    await fixture?.dispose();
  });

  it('the second instance stops routing to an adapter revoked on the first within one second', async () => {
    const registry = a.app.get(AdapterRegistryService);
    const files = randomPeftFiles(fixture.config, 21);
    const adapter = await registry.create(
      { name: 'shared-task', kind: 'task', baseModel: 'tiny', rank: 4, alpha: 8, targetModules: files.adapterConfig.target_modules as string[], weights: files.weights },
      'system',
    );
    await registry.activate(adapter.id, 'system');
    const ask = () => http(b.baseUrl, 'POST', '/v1/completions', { key: a.adminKey, body: { model: 'tiny:shared-task', prompt: 'hello', max_tokens: 2, temperature: 0 } });
    // B learns about the activation from A's NOTIFY, loads the weights from Postgres and serves them.
    await expect.poll(async () => (await ask()).status, { timeout: 5000, interval: 50 }).toBe(200);
    const storeB = b.app.get(AdapterStore);
    expect(storeB.cache.has(adapter.id, adapter.version)).toBe(true);

    await registry.revoke(adapter.id, 'system', 'test');
    const revokedAt = performance.now();
    let status = 200;
    while (status === 200 && performance.now() - revokedAt < 3000) {
      status = (await ask()).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 10));
    }
    const elapsed = performance.now() - revokedAt;
    expect(status).toBe(404);
    expect(elapsed).toBeLessThan(1000);
    expect(storeB.cache.has(adapter.id, adapter.version)).toBe(false);
    expect(storeB.cache.stats().invalidations).toBeGreaterThanOrEqual(1);
  });
});
