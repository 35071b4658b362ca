/**
 * Issue 12: state changes that must happen once. 20 concurrent revokes of one API key, and 20
 * concurrent deactivations / revocations of one adapter, give exactly one success and exactly one
 * audit row; the others get 409 CONFLICT. On a Postgres server (DATABASE_URL) the requests are
 * spread over two app instances sharing the database, as two replicas would see them.
 */
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterRegistryService } from '../../src/modules/adapters/adapter-registry.service.js';
import { http, startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, TEST_BACKENDS, type TestDatabase } from '../support/database.js';

const N = 20;

describe.each(TEST_BACKENDS)('concurrent revokes on %s', (backend) => {
  let db: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  /** Replicas the requests are spread over (one on PGlite: an embedded database serves one process). */
  let replicas: TestApp[];

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    // No model: these routes need none, and loading one would only slow the test down.
    const env = { LETHE_MODEL_DIR: join(db.dataDir, 'no-model'), LETHE_ROLE: 'api' };
    a = await startTestApp({ database: db, env });
    b = backend === 'postgres' ? await startTestApp({ database: db, env, adminKey: a.adminKey }) : a;
    replicas = backend === 'postgres' ? [a, b] : [a];
  });

  afterAll(async () => {
    if (b && b !== a) await b.close();
    await a?.close();
    await db?.dispose();
  });

  const auditCount = async (action: string, subject: string): Promise<number> => {
    const [row] = await a.app.get(DataSource).query('SELECT count(*)::int AS n FROM audit_event WHERE action = $1 AND subject = $2', [action, subject]);
    return row.n;
  };
  const statuses = (results: { status: number }[]) => results.map((r) => r.status).sort();

  it(`${N} concurrent revokes of one API key: one 200, ${N - 1} × 409, one audit row`, async () => {
    const created = await http(a.baseUrl, 'POST', '/v1/admin/api-keys', { key: a.adminKey, body: { name: 'to revoke', role: 'client' } });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) => http(replicas[i % replicas.length].baseUrl, 'POST', `/v1/admin/api-keys/${id}/revoke`, { key: a.adminKey })),
    );
    expect(statuses(results)).toEqual([200, ...Array<number>(N - 1).fill(409)]);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.error.code).toBe('CONFLICT');
    expect(await auditCount('api_key.revoke', `api_key:${id}`)).toBe(1);
    // The revoked key no longer authenticates, on any replica.
    for (const r of replicas) expect((await http(r.baseUrl, 'GET', '/v1/adapters', { key: created.body.key })).status).toBe(401);
  });

  it(`${N} concurrent deactivations of one adapter over HTTP: one 200, ${N - 1} × 409, one audit row`, async () => {
    const registry = a.app.get(AdapterRegistryService);
    const adapter = await registry.create({ name: 'task-off', kind: 'task', baseModel: 'm', rank: 2, alpha: 4, targetModules: ['q_proj'], weights: new Uint8Array([1]) }, 'system');
    await registry.activate(adapter.id, 'system');
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) => http(replicas[i % replicas.length].baseUrl, 'POST', `/v1/adapters/${adapter.id}/deactivate`, { key: a.adminKey })),
    );
    expect(statuses(results)).toEqual([200, ...Array<number>(N - 1).fill(409)]);
    expect(await auditCount('adapter.deactivate', `adapter:${adapter.id}`)).toBe(1);
  });

  it(`${N} concurrent revocations of one adapter: one succeeds, the others are CONFLICT, one audit row`, async () => {
    const registry = a.app.get(AdapterRegistryService);
    const adapter = await registry.create({ name: 'task-gone', kind: 'task', baseModel: 'm', rank: 2, alpha: 4, targetModules: ['q_proj'], weights: new Uint8Array([2]) }, 'system');
    const outcomes = await Promise.allSettled(
      Array.from({ length: N }, (_, i) => replicas[i % replicas.length].app.get(AdapterRegistryService).revoke(adapter.id, 'system', 'test')),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes) if (o.status === 'rejected') expect((o.reason as { code?: string }).code).toBe('CONFLICT');
    expect(await auditCount('adapter.revoke', `adapter:${adapter.id}`)).toBe(1);
  });
});
