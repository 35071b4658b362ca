import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../migrations/index.js';
import { AuditRepository } from '../../src/modules/audit/audit.repository.js';
import { AuditService } from '../../src/modules/audit/audit.service.js';
import { createTestDatabase, TEST_BACKENDS, type OpenDatabase, type TestDatabase } from '../support/database.js';

const TABLES = ['adapter', 'adapter_blob', 'api_key', 'audit_event'];

async function tables(open: OpenDatabase): Promise<string[]> {
  const rows: { table_name: string }[] = await open.ds.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY($1) ORDER BY 1`,
    [TABLES],
  );
  return rows.map((r) => r.table_name);
}

describe.each(TEST_BACKENDS)('foundation schema and audit log on %s', (backend) => {
  let db: TestDatabase;
  let open: OpenDatabase;
  let sut: AuditService;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    open = await db.open({ migrate: false });
    sut = new AuditService(open.ds, new AuditRepository(open.ds));
  });

  afterAll(async () => {
    await open?.close();
    await db?.dispose();
  });

  it('migrates up, down and up again', async () => {
    expect(await tables(open)).toEqual([]);
    await open.ds.runMigrations();
    expect(await tables(open)).toEqual(TABLES);
    // Down through every migration (later issues add theirs), back to an empty schema.
    for (let i = 0; i < MIGRATIONS.length; i++) await open.ds.undoLastMigration();
    expect(await tables(open)).toEqual([]);
    const left = await open.ds.query(`SELECT count(*)::int AS n FROM typeorm_migrations`);
    expect(left[0].n).toBe(0);
    const fn = await open.ds.query(`SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'audit_event_append_only'`);
    expect(fn[0].n).toBe(0);
    await open.ds.runMigrations();
    expect(await tables(open)).toEqual(TABLES);
    expect(await open.ds.showMigrations()).toBe(false);
  });

  it('keeps a valid chain under 50 concurrent writers', async () => {
    const writes = Array.from({ length: 50 }, (_, i) =>
      sut.record({ actor: `writer-${i % 5}`, action: 'test.write', subject: `thing:${i}`, details: { i, nested: { z: 1, a: [i, 'x'] } } }),
    );
    const events = await Promise.all(writes);
    expect(new Set(events.map((e) => e.seq)).size).toBe(50);
    expect(await sut.verify()).toEqual({ valid: true, events: 50 });
    const page = await sut.list({ actor: 'writer-3', limit: 100 });
    expect(page.items).toHaveLength(10);
    expect(page.items.every((e) => e.actor === 'writer-3')).toBe(true);
  });

  it('records inside the caller transaction: a rollback takes the event with it', async () => {
    const before = await sut.verify();
    await expect(
      open.ds.transaction(async (m) => {
        await sut.record({ actor: 'a', action: 'test.rollback', subject: 's' }, m);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await sut.verify()).toEqual(before);
    await open.ds.transaction((m) => sut.record({ actor: 'a', action: 'test.commit', subject: 's' }, m));
    expect(await sut.verify()).toEqual({ valid: true, events: 51 });
  });

  it('filters by time range and pages with a cursor', async () => {
    const all = (await sut.list({ limit: 1000 })).items;
    const mid = all[25];
    const fromMid = await sut.list({ from: new Date(mid.at), limit: 1000 });
    expect(fromMid.items.every((e) => e.at >= mid.at)).toBe(true);
    const toMid = await sut.list({ to: new Date(mid.at), limit: 1000 });
    expect(toMid.items.length + fromMid.items.length).toBe(all.length);
    const first = await sut.list({ limit: 20 });
    expect(first.nextCursor).toBe(first.items[19].seq);
    const second = await sut.list({ limit: 20, after: first.nextCursor ?? undefined });
    expect(second.items[0].seq).toBe(first.items[19].seq + 1);
  });

  it('refuses UPDATE, DELETE and TRUNCATE on audit_event', async () => {
    await expect(open.ds.query(`UPDATE audit_event SET actor = 'x' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(open.ds.query(`DELETE FROM audit_event WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(open.ds.query(`TRUNCATE audit_event`)).rejects.toThrow(/append-only/);
    expect((await sut.verify()).valid).toBe(true);
  });

  it('reports a tampered row (trigger disabled inside the test) as the first bad seq', async () => {
    const runner = open.ds.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await runner.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete');
      await runner.query(`UPDATE audit_event SET details = '{"i": -1}'::jsonb WHERE seq = 7`);
      await runner.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update_delete');
      await runner.commitTransaction();
    } finally {
      await runner.release();
    }
    const verdict = await sut.verify();
    expect(verdict).toMatchObject({ valid: false, firstBadSeq: 7 });
    expect(verdict.valid === false && verdict.reason).toMatch(/^changed/);
  });
});
