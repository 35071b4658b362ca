import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdapterRegistryService, ADAPTERS_CHANNEL, type CreateAdapterInput } from '../../src/modules/adapters/adapter-registry.service.js';
import { AdapterRepository } from '../../src/modules/adapters/adapter.repository.js';
import { AuditRepository } from '../../src/modules/audit/audit.repository.js';
import { AuditService } from '../../src/modules/audit/audit.service.js';
import { DomainError, ErrorCode } from '../../src/modules/common/domain-error.js';
import { DatabaseEvents } from '../../src/modules/database/database-events.service.js';
import { createTestDatabase, TEST_BACKENDS, type OpenDatabase, type TestDatabase } from '../support/database.js';

/** Adapter input with full defaults (CONVENTIONS §10). */
function adapterInput(overrides: Partial<CreateAdapterInput> = {}): CreateAdapterInput {
  return {
    name: `adapter-${Math.random().toString(36).slice(2, 8)}`,
    kind: 'task',
    baseModel: 'demo',
    rank: 4,
    alpha: 8,
    targetModules: ['q_proj', 'v_proj'],
    weights: Uint8Array.from({ length: 64 }, () => Math.floor(Math.random() * 256)),
    ...overrides,
  };
}

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DomainError);
  expect((e as DomainError).code).toBe(code);
}

describe.each(TEST_BACKENDS)('adapter registry on %s', (backend) => {
  let db: TestDatabase;
  let open: OpenDatabase;
  let events: DatabaseEvents;
  let audit: AuditService;
  let sut: AdapterRegistryService;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    open = await db.open();
    events = new DatabaseEvents(open.conn);
    audit = new AuditService(open.ds, new AuditRepository(open.ds));
    sut = new AdapterRegistryService(open.ds, new AdapterRepository(open.ds), audit, events);
  });

  afterAll(async () => {
    await events?.close();
    await open?.close();
    await db?.dispose();
  });

  it('creates an adapter with its content-addressed blob and reads the weights back verified', async () => {
    const input = adapterInput();
    const a = await sut.create(input, 'key-1');
    expect(a).toMatchObject({ name: input.name, version: 1, status: 'inactive', sizeBytes: 64, targetModules: ['q_proj', 'v_proj'] });
    expect(a.blobSha256).toBe(createHash('sha256').update(input.weights as Uint8Array).digest('hex'));
    expect([...(await sut.readWeights(a.id))]).toEqual([...(input.weights as Uint8Array)]);
    // Same bytes under another name share the blob.
    const b = await sut.create(adapterInput({ weights: input.weights }), 'key-1');
    expect(b.blobSha256).toBe(a.blobSha256);
    const blobs = await open.ds.query('SELECT count(*)::int AS n FROM adapter_blob WHERE sha256 = $1', [a.blobSha256]);
    expect(blobs[0].n).toBe(1);
  });

  it('reads back every byte of blobs the size of a real adapter, whatever their length modulo 3 (base64 transfer)', async () => {
    for (const length of [318 * 1024, 318 * 1024 + 1, 318 * 1024 + 2, 1, 0]) {
      const weights = Uint8Array.from({ length }, (_, i) => (i * 131 + length) % 256);
      const a = await sut.create(adapterInput({ weights }), 'key-1');
      const back = await sut.readWeights(a.id);
      expect(back.length, `length ${length}`).toBe(length);
      expect(Buffer.compare(back, Buffer.from(weights)), `length ${length}`).toBe(0);
    }
  });

  it('walks the lifecycle, audits every change with its actor and rejects bad transitions', async () => {
    const a = await sut.create(adapterInput({ status: 'training', weights: undefined }), 'op');
    await expectCode(sut.activate(a.id, 'op'), ErrorCode.CONFLICT);
    await sut.completeTraining(a.id, new Uint8Array([1, 2, 3]), 'worker');
    expect((await sut.activate(a.id, 'admin-1')).status).toBe('active');
    expect((await sut.deactivate(a.id, 'admin-1')).status).toBe('inactive');
    expect((await sut.revoke(a.id, 'admin-2', 'leaks PII')).status).toBe('revoked');
    await expectCode(sut.activate(a.id, 'admin-1'), ErrorCode.CONFLICT);
    await expectCode(sut.revoke(a.id, 'admin-1'), ErrorCode.CONFLICT);
    const history = await sut.history(a.id);
    expect(history.map((e) => [e.action, e.actor])).toEqual([
      ['adapter.create', 'op'],
      ['adapter.train_complete', 'worker'],
      ['adapter.activate', 'admin-1'],
      ['adapter.deactivate', 'admin-1'],
      ['adapter.revoke', 'admin-2'],
    ]);
    expect(history[4].details).toMatchObject({ from: 'inactive', to: 'revoked', reason: 'leaks PII' });
    expect(await audit.verify()).toMatchObject({ valid: true });
  });

  it('makes new versions with lineage, and refuses a taken (name, version)', async () => {
    const v1 = await sut.create(adapterInput({ name: 'versioned', lineage: { request: 'r1' } }), 'op');
    const v2 = await sut.newVersion(v1.id, { rank: 8 }, 'op');
    expect(v2).toMatchObject({ name: 'versioned', version: 2, rank: 8, lineage: { request: 'r1', parent: v1.id, parentVersion: 1 } });
    await expectCode(sut.create(adapterInput({ name: 'versioned', version: 2 }), 'op'), ErrorCode.CONFLICT);
    const page = await sut.list({ name: 'versioned', limit: 10, offset: 0 });
    expect(page.total).toBe(2);
    expect((await sut.list({ name: 'versioned', limit: 1, offset: 1 })).items).toHaveLength(1);
    await expectCode(sut.get('00000000-0000-4000-8000-000000000000'), ErrorCode.NOT_FOUND);
  });

  it('detects corrupt blob bytes on read', async () => {
    const a = await sut.create(adapterInput(), 'op');
    await open.ds.query(`UPDATE adapter_blob SET bytes = set_byte(bytes, 0, (get_byte(bytes, 0) + 1) % 256) WHERE sha256 = $1`, [a.blobSha256]);
    await expectCode(sut.readWeights(a.id), ErrorCode.INTEGRITY);
  });

  it('announces committed changes on the lethe_adapters channel', async () => {
    const heard: string[] = [];
    const stop = await events.listen(ADAPTERS_CHANNEL, (id) => heard.push(id));
    const a = await sut.create(adapterInput(), 'op');
    await sut.activate(a.id, 'op');
    await expectCode(sut.activate(a.id, 'op'), ErrorCode.CONFLICT); // failed: no announcement
    for (let i = 0; i < 50 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 100));
    stop();
    expect(heard).toEqual([a.id, a.id]);
  });
});
