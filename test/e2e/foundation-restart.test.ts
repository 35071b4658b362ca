import { afterAll, describe, expect, it } from 'vitest';
import { AdapterRegistryService } from '../../src/modules/adapters/adapter-registry.service.js';
import { AuditRepository } from '../../src/modules/audit/audit.repository.js';
import { AuditService } from '../../src/modules/audit/audit.service.js';
import { ApiKeyRepository } from '../../src/modules/auth/api-key.repository.js';
import { ApiKeyService } from '../../src/modules/auth/api-key.service.js';
import { http, startTestApp } from '../support/app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('restart on the same data folder', () => {
  let db: TestDatabase;

  afterAll(async () => {
    await db?.dispose();
  });

  it('keeps keys, adapters and the audit chain, and bootstraps the admin only once', async () => {
    db = await createTestDatabase('pglite');
    const first = await startTestApp({ database: db });
    const created = await http(first.baseUrl, 'POST', '/v1/admin/api-keys', { key: first.adminKey, body: { name: 'survivor', role: 'operator' } });
    expect(created.status).toBe(201);
    const weights = new Uint8Array([9, 8, 7, 6, 5]);
    const adapter = await first.app.get(AdapterRegistryService).create(
      { name: 'kept', kind: 'task', baseModel: 'demo', rank: 2, alpha: 4, targetModules: ['q_proj'], weights },
      'system',
    );
    const before = await http(first.baseUrl, 'GET', '/v1/admin/audit/verify', { key: first.adminKey });
    await first.close();

    const second = await startTestApp({ database: db, adminKey: first.adminKey });
    try {
      // The operator key created before the restart still authenticates.
      expect((await http(second.baseUrl, 'GET', '/v1/adapters', { key: created.body.key })).status).toBe(200);
      const got = await http(second.baseUrl, 'GET', `/v1/adapters/${adapter.id}`, { key: created.body.key });
      expect(got.body).toMatchObject({ name: 'kept', version: 1, sizeBytes: 5, blobSha256: adapter.blobSha256 });
      expect([...(await second.app.get(AdapterRegistryService).readWeights(adapter.id))]).toEqual([...weights]);
      const keys = await http(second.baseUrl, 'GET', '/v1/admin/api-keys', { key: second.adminKey });
      expect(keys.body.map((k: { name: string }) => k.name).sort()).toEqual(['bootstrap admin', 'survivor']);
      const after = await http(second.baseUrl, 'GET', '/v1/admin/audit/verify', { key: second.adminKey });
      expect(after.body).toEqual({ valid: true, events: before.body.events });
      // An admin exists: without LETHE_ADMIN_KEY no new bootstrap key is generated.
      expect(await second.app.get(ApiKeyService).ensureBootstrapAdmin(undefined)).toBeUndefined();
    } finally {
      await second.close();
    }
  });

  it('generates and stores a bootstrap admin key when none exists and none is given', async () => {
    const fresh = await createTestDatabase('pglite');
    const open = await fresh.open();
    try {
      const sut = new ApiKeyService(open.ds, new ApiKeyRepository(open.ds), new AuditService(open.ds, new AuditRepository(open.ds)), fresh.config());
      const secret = await sut.ensureBootstrapAdmin(undefined);
      expect(secret).toMatch(/^lethe_[0-9A-Za-z]{40}$/);
      expect(await sut.authenticate(secret as string)).toMatchObject({ role: 'admin', name: 'bootstrap admin' });
      expect(await sut.ensureBootstrapAdmin(undefined)).toBeUndefined();
    } finally {
      await open.close();
      await fresh.dispose();
    }
  });
});
