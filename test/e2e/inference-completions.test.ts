import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterRegistryService } from '../../src/modules/adapters/adapter-registry.service.js';
import { AdapterStore } from '../../src/modules/inference/adapter-store.service.js';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { createModelFixture, randomPeftFiles, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

interface LethePlan {
  mode: string;
  registryVersion: number;
  entries: Array<{ adapterId: string; name: string; kind: string; strength: number; applied: boolean; reason: string }>;
}

describe('OpenAI-compatible completions over HTTP', () => {
  let fixture: ModelFixture;
  let app: TestApp;
  let client: OpenAI;
  let clientKey: string;
  let clientKeyId: string;
  let base: string;
  let taskId: string;

  beforeAll(async () => {
    fixture = await createModelFixture();
    app = await startTestApp({
      env: { LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1', LETHE_MAX_TOKENS_LIMIT: '64', LETHE_QUEUE_MAX: '2', LETHE_BATCH_MAX_SIZE: '1' },
    });
    await app.app.get(ModelHost).whenReady();
    base = 'tiny';
    const created = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'client', role: 'client' } });
    clientKey = created.body.key;
    clientKeyId = created.body.id;
    client = new OpenAI({ apiKey: clientKey, baseURL: `${app.baseUrl}/v1`, maxRetries: 0 });
    const registry = app.app.get(AdapterRegistryService);
    const files = randomPeftFiles(fixture.config, 3, 4, 8, 1);
    const task = await registry.create(
      { name: 'task-a', kind: 'task', baseModel: base, rank: 4, alpha: 8, targetModules: files.adapterConfig.target_modules as string[], weights: files.weights },
      'system',
    );
    await registry.activate(task.id, 'system');
    taskId = task.id;
    const inactive = randomPeftFiles(fixture.config, 4);
    await registry.create({ name: 'task-off', kind: 'task', baseModel: base, rank: 4, alpha: 8, targetModules: inactive.adapterConfig.target_modules as string[], weights: inactive.weights }, 'system');
    // The NOTIFY is delivered asynchronously; wait until the registry snapshot has the adapters.
    await app.app.get(AdapterStore).refresh();
  });

  afterAll(async () => {
    await app?.close();
    await fixture?.dispose();
  });

  it('reports the loaded model in /readyz', async () => {
    const ready = await http(app.baseUrl, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.model).toMatchObject({ ok: true, detail: expect.stringMatching(/^ready: tiny \(llama, \d+ parameters\) on \w+, 1 worker thread/) });
  });

  it('answers through the official openai client, plain and streaming, with the plan attached', async () => {
    const plain = await client.completions.create({ model: base, prompt: 'The author was born in', max_tokens: 6, temperature: 0 });
    expect(plain.object).toBe('text_completion');
    expect(plain.choices).toHaveLength(1);
    expect(['stop', 'length']).toContain(plain.choices[0].finish_reason);
    expect(plain.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(plain.usage!.total_tokens).toBe(plain.usage!.prompt_tokens + plain.usage!.completion_tokens);
    const plan = (plain as unknown as { lethe: { routing: LethePlan } }).lethe.routing;
    expect(plan).toMatchObject({ mode: 'auto', entries: [] });

    const stream = await client.completions.create({ model: base, prompt: 'The author was born in', max_tokens: 6, temperature: 0, stream: true });
    let text = '';
    let last: unknown;
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text += c.text;
        finish = c.finish_reason ?? finish;
      }
      last = chunk;
    }
    expect(text).toBe(plain.choices[0].text);
    expect(finish).toBe(plain.choices[0].finish_reason);
    expect(last).toMatchObject({ choices: [], usage: plain.usage, lethe: { routing: { mode: 'auto', entries: [] } } });
  });

  it('routes `<base>:<adapter>` to the task adapter, lists it in /v1/models and records the decision', async () => {
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids).toContain(base);
    expect(ids).toContain(`${base}:task-a`);
    expect(ids).not.toContain(`${base}:task-off`);

    const prompt = 'Which genre does the author write';
    const routed = await client.completions.create({ model: `${base}:task-a`, prompt, max_tokens: 8, temperature: 0 });
    const plan = (routed as unknown as { lethe: { routing: LethePlan; requestId: string } }).lethe.routing;
    expect(plan.entries).toEqual([expect.objectContaining({ adapterId: taskId, name: 'task-a', kind: 'task', strength: 1, applied: true, reason: 'explicit' })]);
    const explicit = await http(app.baseUrl, 'POST', '/v1/completions', {
      key: clientKey,
      body: { model: base, prompt, max_tokens: 8, temperature: 0, lethe: { routing: 'manual', adapters: [{ name: 'task-a', strength: 1 }] } },
    });
    expect(explicit.status).toBe(200);
    expect(explicit.body.choices[0].text).toBe(routed.choices[0].text);
    const plainText = (await client.completions.create({ model: base, prompt, max_tokens: 8, temperature: 0 })).choices[0].text;
    expect(plainText).not.toBe(routed.choices[0].text);

    const decisions = await http(app.baseUrl, 'GET', `/v1/admin/routing-decisions?adapterId=${taskId}&keyId=${clientKeyId}`, { key: app.adminKey });
    expect(decisions.status).toBe(200);
    expect(decisions.body.total).toBe(2);
    expect(decisions.body.items[0]).toMatchObject({ model: base, mode: 'manual', apiKeyId: clientKeyId, plan: { entries: [{ adapterId: taskId }] } });
    const none = await http(app.baseUrl, 'GET', `/v1/admin/routing-decisions?adapterId=${taskId}&to=2000-01-01T00:00:00Z`, { key: app.adminKey });
    expect(none.body.total).toBe(0);
    expect((await http(app.baseUrl, 'GET', '/v1/admin/routing-decisions', { key: clientKey })).status).toBe(403);

    const metrics = (await http(app.baseUrl, 'GET', '/metrics', { key: app.adminKey })).body as string;
    const sample = (name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(sample(`lethe_adapter_routed_total{adapter="${taskId}",name="task-a",kind="task"}`)).toBe(2);
    expect(sample(`lethe_adapter_strength_sum{adapter="${taskId}",name="task-a",kind="task"}`)).toBe(2);
    expect(sample('lethe_adapter_cache_misses_total')).toBeGreaterThanOrEqual(1);
    expect(sample('lethe_adapter_cache_hits_total')).toBeGreaterThanOrEqual(1);
    expect(sample('lethe_inference_latency_seconds_count{stream="false"}')).toBeGreaterThanOrEqual(4);
    expect(sample('lethe_inference_tokens_total{type="completion"}')).toBeGreaterThan(0);
  });

  it('lets only admins ask for routing none, and audits it', async () => {
    const body = { model: base, prompt: 'hello', max_tokens: 2, temperature: 0, lethe: { routing: 'none' } };
    const refused = await http(app.baseUrl, 'POST', '/v1/completions', { key: clientKey, body });
    expect(refused.status).toBe(403);
    const ok = await http(app.baseUrl, 'POST', '/v1/completions', { key: app.adminKey, body });
    expect(ok.status).toBe(200);
    expect(ok.body.lethe.routing.mode).toBe('none');
    const audit = await http(app.baseUrl, 'GET', '/v1/admin/audit?action=inference.routing_none', { key: app.adminKey });
    expect(audit.body.items.map((e: { subject: string }) => e.subject)).toContain(`completion:${ok.body.lethe.requestId}`);
  });

  const bad: Array<{ name: string; body: Record<string, unknown>; status: number; mention: string }> = [
    { name: 'unknown model', body: { model: 'gpt-9' }, status: 404, mention: 'gpt-9' },
    { name: 'unknown adapter in model', body: { model: 'tiny:nope' }, status: 404, mention: 'nope' },
    { name: 'unknown adapter in lethe.adapters', body: { lethe: { adapters: [{ name: 'ghost' }] } }, status: 404, mention: 'ghost' },
    { name: 'inactive adapter', body: { model: 'tiny:task-off' }, status: 409, mention: 'task-off' },
    { name: 'negative strength', body: { lethe: { adapters: [{ name: 'task-a', strength: -0.5 }] } }, status: 400, mention: 'strength' },
    { name: 'NaN strength (as a string)', body: { lethe: { adapters: [{ name: 'task-a', strength: 'NaN' }] } }, status: 400, mention: 'strength' },
    { name: 'strength above the bound', body: { lethe: { adapters: [{ name: 'task-a', strength: 2.5 }] } }, status: 400, mention: 'strength' },
    { name: 'oversize prompt', body: { prompt: 'word '.repeat(400) }, status: 400, mention: 'context' },
    { name: 'empty prompt', body: { prompt: '' }, status: 400, mention: 'prompt' },
    { name: 'max_tokens beyond the limit', body: { max_tokens: 65 }, status: 400, mention: 'max_tokens' },
    { name: 'n = 2', body: { n: 2 }, status: 400, mention: 'n' },
    { name: 'unknown field', body: { best_of: 3 }, status: 400, mention: 'best_of' },
    { name: 'temperature out of range', body: { temperature: 3 }, status: 400, mention: 'temperature' },
    { name: 'token id outside the vocabulary', body: { prompt: [1, 2, 999999] }, status: 400, mention: 'vocabulary' },
  ];
  it.each(bad)('refuses $name with $status', async ({ body, status, mention }) => {
    const res = await http(app.baseUrl, 'POST', '/v1/completions', { key: clientKey, body: { model: base, prompt: 'hi', max_tokens: 2, ...body } });
    expect(res.status).toBe(status);
    expect(JSON.stringify(res.body.error)).toContain(mention);
  });

  it('answers 429 with Retry-After when the queue is full, and every other request normally', async () => {
    const body = { model: base, prompt: 'The author was born in', max_tokens: 40, temperature: 0 };
    const all = await Promise.all(Array.from({ length: 8 }, () => http(app.baseUrl, 'POST', '/v1/completions', { key: clientKey, body })));
    const statuses = all.map((r) => r.status);
    expect(statuses).toContain(429);
    expect(statuses).toContain(200);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    const rejected = all.find((r) => r.status === 429)!;
    expect(Number(rejected.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(rejected.body.error.code).toBe('TOO_MANY_REQUESTS');
  });

  it('stops generating for a streaming client that disconnects', async () => {
    const host = app.app.get(ModelHost);
    const before = host.batcherStats()!.cancelled;
    const ac = new AbortController();
    const res = await fetch(`${app.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${clientKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: base, prompt: 'The author was born in', max_tokens: 64, temperature: 0, stream: true, stop: ['§never-in-this-vocabulary§'] }),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await expect.poll(() => host.batcherStats()!.cancelled, { timeout: 5000 }).toBeGreaterThan(before);
  });
});
