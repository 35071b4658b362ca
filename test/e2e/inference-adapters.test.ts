import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AdapterStore } from '../../src/modules/inference/adapter-store.service.js';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { readTar } from '../../src/modules/inference/tar.js';
import { createModelFixture, randomPeftFiles, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { randomCheckpoint } from '../../src/engine/testing/random-checkpoint.js';
import { serializeSafetensors } from '../../src/engine/safetensors.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

type Part = { field: string; name?: string; data: Uint8Array | string };

async function upload(app: TestApp, key: string, parts: Part[]): Promise<{ status: number; body: any }> {
  const form = new FormData();
  for (const p of parts) {
    if (p.name === undefined) form.append(p.field, p.data as string);
    else form.append(p.field, new Blob([typeof p.data === 'string' ? p.data : Buffer.from(p.data)]), p.name);
  }
  const res = await fetch(`${app.baseUrl}/v1/adapters/import`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  return { status: res.status, body: await res.json() };
}

describe('PEFT adapters in and out over HTTP', () => {
  let fixture: ModelFixture;
  let app: TestApp;
  let operator: { id: string; key: string };
  let clientKey: string;
  let files: ReturnType<typeof randomPeftFiles>;
  const good = (): Part[] => [
    { field: 'name', data: 'imported-a' },
    { field: 'config', name: 'adapter_config.json', data: JSON.stringify(files.adapterConfig) },
    { field: 'weights', name: 'adapter_model.safetensors', data: files.weights },
  ];

  beforeAll(async () => {
    fixture = await createModelFixture();
    // The prefetch of named adapters is opt-in (read by ModelHost when the app is made).
    process.env.LETHE_ADAPTER_PREFETCH = 'true';
    try {
      app = await startTestApp({ env: { LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1' } });
    } finally {
      delete process.env.LETHE_ADAPTER_PREFETCH;
    }
    await app.app.get(ModelHost).whenReady();
    operator = (await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'op', role: 'operator' } })).body;
    clientKey = (await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'c', role: 'client' } })).body.key;
    files = randomPeftFiles(fixture.config, 11, 2, 4, 1);
  });

  afterAll(async () => {
    await app?.close();
    await fixture?.dispose();
  });

  const count = async () => (await http(app.baseUrl, 'GET', '/v1/adapters', { key: app.adminKey })).body.total as number;

  it('refuses malformed and hostile uploads with a 4xx that says why, storing nothing', async () => {
    const other = randomCheckpoint('llama', { vocabSize: 1530, dModel: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, dFf: 24, maxPositions: 128 });
    const wrongShapes = randomPeftFiles(other.modelConfig, 5, 2, 4);
    const badHeader = new Uint8Array(16);
    new DataView(badHeader.buffer).setBigUint64(0, 1n << 40n, true); // declares a 1 TiB header
    const hugeTensor = Buffer.concat([
      (() => {
        const json = Buffer.from(JSON.stringify({ 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': { dtype: 'F32', shape: [2, 32], data_offsets: [0, 4e12] } }));
        const len = Buffer.alloc(8);
        len.writeBigUInt64LE(BigInt(json.length));
        return Buffer.concat([len, json]);
      })(),
      Buffer.alloc(64),
    ]);
    const trickName = serializeSafetensors(new Map([['base_model.model.../../etc.lora_A.weight', { shape: [2, 32], data: new Float32Array(64) }]]), {});
    const cases: Array<{ parts: Part[]; status: number; says: string }> = [
      { parts: good().filter((p) => p.field !== 'weights'), status: 400, says: 'missing adapter_model.safetensors' },
      { parts: good().map((p) => (p.field === 'config' ? { ...p, name: '../adapter_config.json' } : p)), status: 400, says: 'unexpected file' },
      { parts: good().map((p) => (p.field === 'name' ? { ...p, data: 'a:b' } : p)), status: 400, says: 'name' },
      { parts: good().map((p) => (p.field === 'config' ? { ...p, data: '{not json' } : p)), status: 400, says: 'not valid JSON' },
      { parts: good().map((p) => (p.field === 'weights' ? { ...p, data: badHeader } : p)), status: 400, says: 'header' },
      { parts: good().map((p) => (p.field === 'weights' ? { ...p, data: hugeTensor } : p)), status: 400, says: 'invalid PEFT adapter' },
      { parts: good().map((p) => (p.field === 'weights' ? { ...p, data: trickName } : p)), status: 400, says: 'invalid PEFT adapter' },
      { parts: good().map((p) => (p.field === 'weights' ? { ...p, data: wrongShapes.weights } : p)), status: 400, says: 'shape' },
      {
        parts: good().map((p) => (p.field === 'config' ? { ...p, data: JSON.stringify({ ...files.adapterConfig, target_modules: ['c_attn'] }) } : p)),
        status: 400,
        says: 'c_attn',
      },
      { parts: good().map((p) => (p.field === 'config' ? { ...p, data: JSON.stringify({ ...files.adapterConfig, r: 100000 }) } : p)), status: 400, says: 'r 100000' },
    ];
    const before = await count();
    for (const c of cases) {
      const res = await upload(app, operator.key, c.parts);
      expect({ status: res.status, body: JSON.stringify(res.body) }).toMatchObject({ status: c.status, body: expect.stringContaining(c.says) });
    }
    expect((await upload(app, clientKey, good())).status).toBe(403);
    const notMultipart = await http(app.baseUrl, 'POST', '/v1/adapters/import', { key: operator.key, body: { name: 'x' } });
    expect(notMultipart.status).toBe(415);
    expect(await count()).toBe(before);
  });

  it('imports inactive, activates (audited), serves, exports the same PEFT files, deactivates', async () => {
    const imported = await upload(app, operator.key, good());
    expect(imported.status).toBe(201);
    expect(imported.body).toMatchObject({ name: 'imported-a', kind: 'imported', status: 'inactive', rank: 2, alpha: 4, baseModel: 'tiny' });
    const id = imported.body.id as string;
    const ask = () => http(app.baseUrl, 'POST', '/v1/completions', { key: clientKey, body: { model: 'tiny:imported-a', prompt: 'hello there', max_tokens: 4, temperature: 0 } });
    // Inactive until an operator activates it (the registry change reaches the router via NOTIFY).
    await expect.poll(async () => (await ask()).status, { timeout: 5000 }).toBe(409);

    expect((await http(app.baseUrl, 'POST', `/v1/adapters/${id}/activate`, { key: clientKey })).status).toBe(403);
    const activated = await http(app.baseUrl, 'POST', `/v1/adapters/${id}/activate`, { key: operator.key });
    expect(activated.status).toBe(200);
    expect(activated.body.status).toBe('active');
    await expect.poll(async () => (await ask()).status, { timeout: 5000 }).toBe(200);
    const served = await ask();
    expect(served.body.lethe.routing.entries).toEqual([expect.objectContaining({ adapterId: id, kind: 'imported', applied: true })]);

    const res = await fetch(`${app.baseUrl}/v1/adapters/${id}/export`, { headers: { authorization: `Bearer ${operator.key}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-tar');
    const tar = readTar(new Uint8Array(await res.arrayBuffer()));
    expect(tar.map((f) => f.name)).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(Buffer.from(tar[0].data).toString('utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: files.adapterConfig.target_modules, base_model_name_or_path: 'tiny' });
    expect(Buffer.from(tar[1].data).equals(Buffer.from(files.weights))).toBe(true);

    expect((await http(app.baseUrl, 'POST', `/v1/adapters/${id}/deactivate`, { key: operator.key })).status).toBe(200);
    await expect.poll(async () => (await ask()).status, { timeout: 5000 }).toBe(409);
    const history = await http(app.baseUrl, 'GET', `/v1/adapters/${id}/history`, { key: app.adminKey });
    expect(history.body.items.map((e: { action: string; actor: string }) => [e.action, e.actor])).toEqual([
      ['adapter.create', operator.id],
      ['adapter.activate', operator.id],
      ['adapter.deactivate', operator.id],
    ]);
  });

  it('loads a named adapter when its request is queued, and the batch uses that lease: one cache acquisition per request, nothing left pinned', async () => {
    const parts = good().map((p) => (p.field === 'name' ? { ...p, data: 'imported-prefetch' } : p));
    const imported = await upload(app, operator.key, parts);
    expect(imported.status).toBe(201);
    expect((await http(app.baseUrl, 'POST', `/v1/adapters/${imported.body.id}/activate`, { key: operator.key })).status).toBe(200);
    const store = app.app.get(AdapterStore);
    await store.refresh();
    const ask = (model: string) => http(app.baseUrl, 'POST', '/v1/completions', { key: clientKey, body: { model, prompt: 'hello there', max_tokens: 3, temperature: 0 } });
    const prefetch = vi.spyOn(store, 'prefetch');
    const before = store.cache.stats();
    const first = await ask('tiny:imported-prefetch');
    expect(prefetch).toHaveBeenCalledTimes(1);
    expect(prefetch.mock.calls[0][0]).toEqual([{ name: 'imported-prefetch' }]);
    expect((await prefetch.mock.results[0].value).map((l: { id: string }) => l.id)).toEqual([imported.body.id]);
    expect(first.status).toBe(200);
    expect(first.body.lethe.routing.entries).toEqual([expect.objectContaining({ adapterId: imported.body.id, applied: true })]);
    const afterFirst = store.cache.stats();
    // The prefetch's miss is the request's only acquisition: the batch reused its lease.
    expect([afterFirst.misses - before.misses, afterFirst.hits - before.hits, afterFirst.loads - before.loads]).toEqual([1, 0, 1]);
    expect(await Promise.all([ask('tiny:imported-prefetch'), ask('tiny:imported-prefetch')]).then((r) => r.map((x) => x.status))).toEqual([200, 200]);
    const afterMore = store.cache.stats();
    expect([afterMore.misses - afterFirst.misses, afterMore.hits - afterFirst.hits, afterMore.loads - afterFirst.loads]).toEqual([0, 2, 0]);
    expect(afterMore.pinned).toBe(0);
    // Names the router refuses are not loaded, and their requests still get the router's 4xx.
    const unknown = await ask('tiny:no-such-adapter');
    expect(unknown.status).toBe(404);
    expect(store.cache.stats()).toMatchObject({ loads: afterMore.loads, misses: afterMore.misses, pinned: 0 });
    prefetch.mockRestore();
  });
});
