import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterRegistryService } from '../../src/modules/adapters/adapter-registry.service.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

type Role = 'admin' | 'operator' | 'client';

interface RouteCase {
  name: string;
  method: 'GET' | 'POST';
  /** Built per call so mutating routes get a fresh target. */
  path: () => Promise<string> | string;
  body?: unknown;
  need: Role;
  okStatus: number;
}

describe('foundation API over HTTP', () => {
  let app: TestApp;
  const keys: Record<Role | 'revoked', string> = { admin: '', operator: '', client: '', revoked: '' };
  let adapterId: string;

  async function createKey(role: Role, name = `${role} key`): Promise<{ id: string; key: string }> {
    const res = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name, role } });
    expect(res.status).toBe(201);
    return res.body;
  }

  beforeAll(async () => {
    app = await startTestApp({ env: { LETHE_BODY_LIMIT: '16kb' } });
    keys.admin = app.adminKey;
    keys.operator = (await createKey('operator')).key;
    keys.client = (await createKey('client')).key;
    const revoked = await createKey('admin', 'to revoke');
    keys.revoked = revoked.key;
    expect((await http(app.baseUrl, 'POST', `/v1/admin/api-keys/${revoked.id}/revoke`, { key: app.adminKey })).status).toBe(200);
    const registry = app.app.get(AdapterRegistryService);
    const adapter = await registry.create(
      { name: 'forget-dune', kind: 'unlearning', baseModel: 'demo', rank: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'], weights: new Uint8Array([1, 2, 3, 4]) },
      'system',
    );
    await registry.activate(adapter.id, 'system');
    adapterId = adapter.id;
  });

  afterAll(async () => {
    await app?.close();
  });

  const routes: RouteCase[] = [
    { name: 'POST /v1/admin/api-keys', method: 'POST', path: () => '/v1/admin/api-keys', body: { name: 'matrix', role: 'client' }, need: 'admin', okStatus: 201 },
    { name: 'GET /v1/admin/api-keys', method: 'GET', path: () => '/v1/admin/api-keys', need: 'admin', okStatus: 200 },
    { name: 'POST /v1/admin/api-keys/:id/revoke', method: 'POST', path: async () => `/v1/admin/api-keys/${(await createKey('client', 'victim')).id}/revoke`, need: 'admin', okStatus: 200 },
    { name: 'GET /v1/admin/audit', method: 'GET', path: () => '/v1/admin/audit', need: 'admin', okStatus: 200 },
    { name: 'GET /v1/admin/audit/verify', method: 'GET', path: () => '/v1/admin/audit/verify', need: 'admin', okStatus: 200 },
    { name: 'GET /v1/adapters', method: 'GET', path: () => '/v1/adapters', need: 'client', okStatus: 200 },
    { name: 'GET /v1/adapters/:id', method: 'GET', path: () => `/v1/adapters/${adapterId}`, need: 'client', okStatus: 200 },
    { name: 'GET /v1/adapters/:id/history', method: 'GET', path: () => `/v1/adapters/${adapterId}/history`, need: 'client', okStatus: 200 },
  ];
  const rank: Record<Role, number> = { client: 0, operator: 1, admin: 2 };

  describe.each(routes.map((r) => [r.name, r] as const))('%s', (_name, route) => {
    it('answers 401 without a key, with a bad key and with a revoked key', async () => {
      for (const key of [undefined, 'lethe_' + 'x'.repeat(40), 'not-even-a-key', keys.revoked]) {
        const res = await http(app.baseUrl, route.method, await route.path(), { key, body: route.body });
        expect(res.status, `key ${key}`).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHORIZED');
      }
    });

    it.each(['client', 'operator', 'admin'] as Role[])('as %s', async (role) => {
      const res = await http(app.baseUrl, route.method, await route.path(), { key: keys[role], body: route.body });
      if (rank[role] >= rank[route.need]) {
        expect(res.status).toBe(route.okStatus);
      } else {
        expect(res.status).toBe(403);
        expect(res.body.error).toMatchObject({ code: 'FORBIDDEN', details: { required: route.need, role } });
      }
    });
  });

  it('serves OpenAPI at /docs without a key', async () => {
    const html = await http(app.baseUrl, 'GET', '/docs');
    expect(html.status).toBe(200);
    const spec = await http(app.baseUrl, 'GET', '/docs-json');
    expect(spec.status).toBe(200);
    expect(Object.keys(spec.body.paths)).toEqual(expect.arrayContaining(['/v1/adapters/{id}/history', '/v1/admin/audit/verify']));
  });

  it('shows a new secret once and stores it hashed', async () => {
    const created = await createKey('client', 'once');
    expect(created.key).toMatch(/^lethe_[0-9A-Za-z]{40}$/);
    const list = await http(app.baseUrl, 'GET', '/v1/admin/api-keys', { key: app.adminKey });
    const row = list.body.find((k: { id: string }) => k.id === created.id);
    expect(row).toMatchObject({ name: 'once', role: 'client', prefix: created.key.slice(0, 14), revokedAt: null });
    expect(JSON.stringify(list.body)).not.toContain(created.key);
    const stored = await app.app.get(DataSource).query('SELECT hash FROM api_key WHERE id = $1', [created.id]);
    expect(stored[0].hash).not.toContain(created.key.slice(6));
  });

  it('records key and adapter changes in a valid audit chain, filterable', async () => {
    const verify = await http(app.baseUrl, 'GET', '/v1/admin/audit/verify', { key: app.adminKey });
    expect(verify.body).toMatchObject({ valid: true });
    expect(verify.body.events).toBeGreaterThan(5);
    const history = await http(app.baseUrl, 'GET', `/v1/adapters/${adapterId}/history`, { key: keys.client });
    expect(history.body.items.map((e: { action: string }) => e.action)).toEqual(['adapter.create', 'adapter.activate']);
    const revokes = await http(app.baseUrl, 'GET', '/v1/admin/audit?action=api_key.revoke&limit=2', { key: app.adminKey });
    expect(revokes.body.items).toHaveLength(2);
    expect(revokes.body.nextCursor).toBe(revokes.body.items[1].seq);
    const next = await http(app.baseUrl, 'GET', `/v1/admin/audit?action=api_key.revoke&after=${revokes.body.nextCursor}`, { key: app.adminKey });
    expect(next.body.items.every((e: { seq: number }) => e.seq > revokes.body.nextCursor)).toBe(true);
  });

  describe('bad input answers 4xx naming the field', () => {
    const post = (body: unknown) => http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body });
    const fields = (res: { body: { error: { details: { field: string }[] } } }) => res.body.error.details.map((d) => d.field);

    it('unknown field', async () => {
      const res = await post({ name: 'x', role: 'client', superuser: true });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION');
      expect(fields(res)).toEqual(['superuser']);
    });

    it('wrong types', async () => {
      const res = await post({ name: 42, role: 'root' });
      expect(res.status).toBe(400);
      expect(fields(res).sort()).toEqual(['name', 'name', 'role']);
    });

    it('missing body', async () => {
      const res = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey });
      expect(res.status).toBe(400);
      expect(fields(res)).toEqual(expect.arrayContaining(['name', 'role']));
    });

    it('malformed JSON', async () => {
      const res = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, rawBody: '{"name": "x",' });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'MALFORMED_JSON', details: { field: 'body' } });
    });

    it('oversize body (413)', async () => {
      const res = await post({ name: 'x'.repeat(20_000), role: 'client' });
      expect(res.status).toBe(413);
      expect(res.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { field: 'body' } });
    });

    it.each(['/v1/adapters/not-a-uuid', '/v1/adapters/123/history', '/v1/admin/api-keys/zzz/revoke'])('invalid uuid in %s', async (path) => {
      const res = await http(app.baseUrl, path.endsWith('revoke') ? 'POST' : 'GET', path, { key: app.adminKey });
      expect(res.status).toBe(400);
      expect(fields(res)).toEqual(['id']);
    });

    it.each([
      ['/v1/adapters?kind=bogus', 'kind'],
      ['/v1/adapters?limit=abc', 'limit'],
      ['/v1/adapters?offset=-1', 'offset'],
      ['/v1/adapters?color=red', 'color'],
      ['/v1/admin/audit?from=yesterday', 'from'],
      ['/v1/admin/audit?limit=100000', 'limit'],
    ])('bad query %s', async (path, field) => {
      const res = await http(app.baseUrl, 'GET', path, { key: app.adminKey });
      expect(res.status).toBe(400);
      expect(fields(res)).toContain(field);
    });

    it('unknown ids are 404, revoking twice is 409', async () => {
      const missing = '00000000-0000-4000-8000-000000000000';
      expect((await http(app.baseUrl, 'GET', `/v1/adapters/${missing}`, { key: keys.client })).body.error.code).toBe('NOT_FOUND');
      const k = await createKey('client', 'twice');
      expect((await http(app.baseUrl, 'POST', `/v1/admin/api-keys/${k.id}/revoke`, { key: app.adminKey })).status).toBe(200);
      const again = await http(app.baseUrl, 'POST', `/v1/admin/api-keys/${k.id}/revoke`, { key: app.adminKey });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('CONFLICT');
    });
  });
});
