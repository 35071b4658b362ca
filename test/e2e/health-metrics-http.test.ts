/**
 * Probes, metrics and request ids over real HTTP against the booted app (embedded database), and
 * the worker role's probe-only port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_ORDER } from '../../src/engine/backend.js';
import { bootstrap } from '../../src/main.js';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { JobQueue } from '../../src/modules/jobs/job-queue.service.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The value of one sample line `name{labels} value` in Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('health, metrics and request ids over HTTP', () => {
  let db: TestDatabase;
  let app: TestApp;

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    app = await startTestApp({ database: db });
  });
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
  });

  it('GET /healthz answers without a key and gives the request a UUID id', async () => {
    const res = await http(app.baseUrl, 'GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok' });
    expect(typeof res.body.uptimeSeconds).toBe('number');
    expect(res.headers.get('x-request-id')).toMatch(UUID);
  });

  it('echoes a caller X-Request-Id, on success, on 401 and on a 413 from the body parser', async () => {
    const ok = await http(app.baseUrl, 'GET', '/healthz', { headers: { 'X-Request-Id': 'trace-abc.123' } });
    expect(ok.headers.get('x-request-id')).toBe('trace-abc.123');
    const unauthorized = await http(app.baseUrl, 'GET', '/v1/adapters', { headers: { 'X-Request-Id': 'trace-401' } });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('x-request-id')).toBe('trace-401');
    const big = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', {
      key: app.adminKey,
      rawBody: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024), role: 'client' }),
      headers: { 'X-Request-Id': 'trace-413' },
    });
    expect(big.status).toBe(413);
    expect(big.headers.get('x-request-id')).toBe('trace-413');
    const unsafe = await http(app.baseUrl, 'GET', '/healthz', { headers: { 'X-Request-Id': 'bad id with spaces' } });
    expect(unsafe.headers.get('x-request-id')).toMatch(UUID);
  });

  it('GET /readyz reports database, queue, tensor backend and the loaded model', async () => {
    await app.app.get(ModelHost).whenReady(); // 503 until then (readiness-model-loading.test.ts)
    const res = await http(app.baseUrl, 'GET', '/readyz');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ready');
    expect(res.body.checks.database.ok).toBe(true);
    expect(res.body.checks.queue).toMatchObject({ ok: true });
    expect(res.body.checks.queue.detail).toMatch(/^working/);
    expect(res.body.checks.backend.ok).toBe(true);
    expect(BACKEND_ORDER).toContain(res.body.checks.backend.detail);
    expect(res.body.checks.model).toMatchObject({ ok: true, detail: expect.stringMatching(/^ready/) });
  });

  it('GET /metrics needs an admin key and serves Prometheus text', async () => {
    expect((await http(app.baseUrl, 'GET', '/metrics')).status).toBe(401);
    const created = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'scraper', role: 'operator' } });
    expect(created.status).toBe(201);
    expect((await http(app.baseUrl, 'GET', '/metrics', { key: created.body.key })).status).toBe(403);

    const before = await http(app.baseUrl, 'GET', '/metrics', { key: app.adminKey });
    const base = sample(before.body, 'lethe_http_requests_total{method="GET",route="/healthz",status="200"}') ?? 0;
    await http(app.baseUrl, 'GET', '/healthz');
    await http(app.baseUrl, 'GET', '/healthz');
    await http(app.baseUrl, 'GET', '/no/such/route/4711');

    const res = await http(app.baseUrl, 'GET', '/metrics', { key: app.adminKey });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const text: string = res.body;
    expect(sample(text, 'lethe_http_requests_total{method="GET",route="/healthz",status="200"}')).toBe(base + 2);
    expect(sample(text, 'lethe_http_requests_total{method="GET",route="unmatched",status="404"}')).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain('4711'); // raw URLs never become labels
    expect(sample(text, 'lethe_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}')).toBe(base + 2);
    // Refused by the body parser before routing: counted, under route "unmatched".
    expect(sample(text, 'lethe_http_requests_total{method="POST",route="unmatched",status="413"}')).toBe(1);
    const readyz = await http(app.baseUrl, 'GET', '/readyz');
    expect(sample(text, `lethe_tensor_backend_info{backend="${readyz.body.checks.backend.detail}"}`)).toBe(1);
    expect(text).toContain('# TYPE lethe_jobs_finished_total counter');
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('GET /readyz answers 503 in the error shape, naming the failing check, when the queue is down', async () => {
    await app.app.get(JobQueue).stop();
    const res = await http(app.baseUrl, 'GET', '/readyz');
    expect(res.status).toBe(503);
    expect(res.body.error).toMatchObject({ code: 'UNAVAILABLE', message: 'not ready: queue' });
    expect(res.body.error.details.checks.queue).toEqual({ ok: false, detail: 'job queue not started' });
    expect(res.body.error.details.checks.database.ok).toBe(true);
    // Liveness does not depend on the queue.
    expect((await http(app.baseUrl, 'GET', '/healthz')).status).toBe(200);
  });
});

describe('worker role over HTTP', () => {
  it('serves only probes and (with LETHE_METRICS_PUBLIC) metrics without a key', async () => {
    const db = await createTestDatabase('pglite');
    const started = await bootstrap(
      db.config({ PORT: '0', HOST: '127.0.0.1', LETHE_ROLE: 'worker', LETHE_METRICS_PUBLIC: 'true' }),
    );
    try {
      expect(started.url).toBeUndefined();
      const { port } = started.app.getHttpServer().address() as { port: number };
      const base = `http://127.0.0.1:${port}`;
      expect((await http(base, 'GET', '/healthz')).status).toBe(200);
      const ready = await http(base, 'GET', '/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body.checks.queue.detail).toMatch(/^working/);
      const metrics = await http(base, 'GET', '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain('lethe_jobs_running');
      const api = await http(base, 'GET', '/v1/adapters');
      expect(api.status).toBe(404);
      expect(api.body.error.code).toBe('NOT_FOUND');
    } finally {
      await started.close();
      await db.dispose();
    }
  });
});
