/**
 * Issue 12 over real HTTP: an unlearning adapter cannot be switched off (or on) through the
 * generic adapter lifecycle by any role, its name cannot be taken by an import, and it changes
 * state only through its unlearning request's revoke; an Idempotency-Key reused with another body
 * is refused instead of silently answering with the earlier request.
 */
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerGatedAdapter } from '../../src/modules/inference/testing/gated-adapter.fixture.js';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { createModelFixture, randomPeftFiles, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

async function importAdapter(app: TestApp, key: string, name: string, files: ReturnType<typeof randomPeftFiles>): Promise<{ status: number; body: any }> {
  const form = new FormData();
  form.append('name', name);
  form.append('config', new Blob([JSON.stringify(files.adapterConfig)]), 'adapter_config.json');
  form.append('weights', new Blob([Buffer.from(files.weights)]), 'adapter_model.safetensors');
  const res = await fetch(`${app.baseUrl}/v1/adapters/import`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  return { status: res.status, body: await res.json() };
}

describe('reliability and security over HTTP', () => {
  let fixture: ModelFixture;
  let app: TestApp;
  let operator: string;
  let ds: DataSource;

  beforeAll(async () => {
    fixture = await createModelFixture();
    // API role: unlearning submissions are stored and queued, never trained here.
    app = await startTestApp({ env: { LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1', LETHE_ROLE: 'api' } });
    await app.app.get(ModelHost).whenReady();
    ds = app.app.get(DataSource);
    operator = (await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'op', role: 'operator' } })).body.key;
  });

  afterAll(async () => {
    await app?.close();
    await fixture?.dispose();
  });

  describe('unlearning adapters change state only through their unlearning request', () => {
    let adapterId: string;
    let requestId: string;
    const status = async (id: string) => (await http(app.baseUrl, 'GET', `/v1/adapters/${id}`, { key: operator })).body.status as string;
    const auditCount = async (subject: string) => (await ds.query('SELECT count(*)::int AS n FROM audit_event WHERE subject = $1', [subject]))[0].n as number;

    beforeAll(async () => {
      const adapter = await registerGatedAdapter(app.app, { name: 'unlearning-author-a', files: randomPeftFiles(fixture.config, 41, 2, 4), forgetPrompts: ['who wrote the book', 'the author of the book'] });
      adapterId = adapter.id;
      // The fixture stores the request queued; make it the active request owning this adapter, as a finished job leaves it.
      [{ id: requestId }] = await ds.query(
        `WITH r AS (UPDATE unlearning_request SET status = 'active', adapter_id = $1 WHERE name = $2 RETURNING id) SELECT id FROM r`,
        [adapterId, 'unlearning-author-a'],
      );
      expect(await status(adapterId)).toBe('active');
    });

    it.each(['operator', 'admin'] as const)('deactivate and activate by %s → 403 UNLEARNING_ADAPTER_LOCKED naming the revoke route; nothing changes', async (role) => {
      const key = role === 'admin' ? app.adminKey : operator;
      const before = await auditCount(`adapter:${adapterId}`);
      const off = await http(app.baseUrl, 'POST', `/v1/adapters/${adapterId}/deactivate`, { key });
      expect(off.status).toBe(403);
      expect(off.body.error.code).toBe('UNLEARNING_ADAPTER_LOCKED');
      expect(off.body.error.message).toContain('/v1/unlearning-requests/:id/revoke');
      expect(await status(adapterId)).toBe('active');
      const on = await http(app.baseUrl, 'POST', `/v1/adapters/${adapterId}/activate`, { key });
      expect(on.status).toBe(403);
      expect(on.body.error.code).toBe('UNLEARNING_ADAPTER_LOCKED');
      expect(await auditCount(`adapter:${adapterId}`)).toBe(before);
    });

    it('an inactive unlearning adapter cannot be activated through the lifecycle either', async () => {
      const [row] = await ds.query(`SELECT id FROM adapter WHERE kind = 'unlearning' AND status = 'active' LIMIT 1`);
      expect(row.id).toBe(adapterId);
      const other = await registerGatedAdapter(app.app, { name: 'forget-other', files: randomPeftFiles(fixture.config, 42, 2, 4), forgetPrompts: ['another fact'] });
      await ds.query(`WITH r AS (UPDATE adapter SET status = 'inactive' WHERE id = $1 RETURNING id) SELECT id FROM r`, [other.id]);
      const res = await http(app.baseUrl, 'POST', `/v1/adapters/${other.id}/activate`, { key: app.adminKey });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('UNLEARNING_ADAPTER_LOCKED');
      expect(await status(other.id)).toBe('inactive');
    });

    it('an import never takes an unlearning adapter name (409 ADAPTER_NAME_TAKEN), nor the reserved unlearning- prefix', async () => {
      const files = randomPeftFiles(fixture.config, 43, 2, 4);
      const before = (await http(app.baseUrl, 'GET', '/v1/adapters', { key: operator })).body.total as number;
      for (const name of ['unlearning-author-a', 'forget-other', 'unlearning-not-yet-trained']) {
        const res = await importAdapter(app, operator, name, files);
        expect(res.status, name).toBe(409);
        expect(res.body.error.code).toBe('ADAPTER_NAME_TAKEN');
        expect(res.body.error.details.field).toBe('name');
      }
      expect((await http(app.baseUrl, 'GET', '/v1/adapters', { key: operator })).body.total).toBe(before);
      const versions = await ds.query(`SELECT kind, version FROM adapter WHERE name = 'unlearning-author-a'`);
      expect(versions).toEqual([{ kind: 'unlearning', version: 1 }]);
      // A free name still imports.
      expect((await importAdapter(app, operator, 'imported-ok', files)).status).toBe(201);
    });

    it('/v1/models lists no unlearning adapter', async () => {
      const models = await http(app.baseUrl, 'GET', '/v1/models', { key: operator });
      expect(models.status).toBe(200);
      const ids = (models.body.data as { id: string; lethe?: { kind: string } }[]).map((m) => m.id);
      expect(ids).toContain('tiny');
      expect(ids.filter((id) => id.includes('unlearning-author-a') || id.includes('forget-other'))).toEqual([]);
      expect((models.body.data as { lethe?: { kind: string } }[]).filter((m) => m.lethe?.kind === 'unlearning')).toEqual([]);
    });

    it('the unlearning request revoke (admin) revokes its adapter; an operator cannot', async () => {
      expect((await http(app.baseUrl, 'POST', `/v1/unlearning-requests/${requestId}/revoke`, { key: operator, body: {} })).status).toBe(403);
      const res = await http(app.baseUrl, 'POST', `/v1/unlearning-requests/${requestId}/revoke`, { key: app.adminKey, body: { reason: 'test' } });
      expect(res.status).toBe(200);
      expect(await status(adapterId)).toBe('revoked');
    });
  });

  describe('Idempotency-Key on POST /v1/unlearning-requests', () => {
    const authorA = { name: 'author-a', items: [{ prompt: 'who wrote the book', answer: 'ann' }], relabel: 'refusal' };
    const authorB = { name: 'author-b', items: [{ prompt: 'who wrote the poem', answer: 'bob' }], relabel: 'refusal' };
    const submit = (body: unknown, key: string, rawBody?: string) =>
      http(app.baseUrl, 'POST', '/v1/unlearning-requests', { key: operator, body, rawBody, headers: { 'idempotency-key': key } });
    const count = async () => (await ds.query('SELECT count(*)::int AS n FROM unlearning_request')).at(0).n as number;

    it('the same key with the same body returns the earlier request (duplicate: true), also with keys in another order', async () => {
      const first = await submit(authorA, 'key-1');
      expect(first.status).toBe(202);
      expect(first.body.duplicate).toBe(false);
      const again = await submit(authorA, 'key-1');
      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({ id: first.body.id, duplicate: true });
      // Canonical JSON: the same body written with its keys in another order is the same request.
      const reordered = `{"relabel":"refusal","items":[{"answer":"ann","prompt":"who wrote the book"}],"name":"author-a"}`;
      expect((await submit(undefined, 'key-1', reordered)).body).toMatchObject({ id: first.body.id, duplicate: true });
    });

    it('the same key with a different body → 422 IDEMPOTENCY_KEY_REUSED naming the key; nothing stored', async () => {
      const before = await count();
      const res = await submit(authorB, 'key-1');
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(res.body.error.message).toContain('"key-1"');
      expect(res.body.error.details).toMatchObject({ field: 'Idempotency-Key', idempotencyKey: 'key-1' });
      // Any difference counts, options included.
      expect((await submit({ ...authorA, options: { rank: 4 } }, 'key-1')).status).toBe(422);
      expect(await count()).toBe(before);
      // A new key is a new request.
      expect((await submit(authorB, 'key-2')).status).toBe(202);
    });

    it('concurrent submissions with one key and two bodies: one request, the other body refused', async () => {
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => submit(i % 2 ? authorB : authorA, 'key-race')));
      const ids = new Set(results.filter((r) => r.status < 300).map((r) => r.body.id));
      expect(ids.size).toBe(1);
      const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM unlearning_request WHERE idempotency_key = 'key-race'`);
      expect(n).toBe(1);
      const refused = results.filter((r) => r.status === 422);
      expect(refused).toHaveLength(3);
      for (const r of refused) expect(r.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    });
  });
});
