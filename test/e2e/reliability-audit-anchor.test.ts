/**
 * Issue 12: audit anchoring over real HTTP. An auditor records the signed head
 * (GET /v1/admin/audit/head); someone with database access then deletes the newest events (the
 * append-only trigger switched off, as an attacker with DB rights can). The chain alone still
 * verifies, but verify against the recorded head reports the deletion; a forged head is refused.
 */
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, TEST_BACKENDS, type TestDatabase } from '../support/database.js';

interface Head {
  seq: number;
  hash: string;
  signedAt: string;
  signature: string;
}

describe.each(TEST_BACKENDS)('audit head anchoring on %s', (backend) => {
  let db: TestDatabase;
  let app: TestApp;
  let operator: string;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    app = await startTestApp({ database: db, env: { LETHE_MODEL_DIR: `${db.dataDir}/no-model`, LETHE_ROLE: 'api' } });
    operator = (await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'op', role: 'operator' } })).body.key;
  });

  afterAll(async () => {
    await app?.close();
    await db?.dispose();
  });

  const addEvents = async (n: number) => {
    for (let i = 0; i < n; i++) expect((await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: `k${i}`, role: 'client' } })).status).toBe(201);
  };
  const getHead = async (): Promise<Head> => {
    const res = await http(app.baseUrl, 'GET', '/v1/admin/audit/head', { key: app.adminKey });
    expect(res.status).toBe(200);
    return res.body;
  };
  const verify = (head?: Partial<Head>) => {
    const q = head ? `?${new URLSearchParams(Object.entries(head).map(([k, v]) => [k, String(v)]))}` : '';
    return http(app.baseUrl, 'GET', `/v1/admin/audit/verify${q}`, { key: app.adminKey });
  };
  /** What an attacker with database rights does: switch the append-only trigger off, delete, switch it back on. */
  const deleteNewest = async (n: number) => {
    await app.app.get(DataSource).transaction(async (m) => {
      await m.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete');
      await m.query('DELETE FROM audit_event WHERE seq > (SELECT max(seq) FROM audit_event) - $1', [n]);
      await m.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update_delete');
    });
  };

  it('the head is the newest event, signed; admin only', async () => {
    await addEvents(3);
    const head = await getHead();
    const [last] = await app.app.get(DataSource).query('SELECT seq::int AS seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1');
    expect(head).toMatchObject({ seq: last.seq, hash: last.hash });
    expect(head.signature).toMatch(/^[0-9a-f]{64}$/);
    expect(Number.isNaN(Date.parse(head.signedAt))).toBe(false);
    expect((await http(app.baseUrl, 'GET', '/v1/admin/audit/head', { key: operator })).status).toBe(403);
    expect((await verify(head)).body).toEqual({ valid: true, events: head.seq, headSeq: head.seq });
  });

  it('refuses a head whose signature does not verify (400), and a partial head (400 naming the missing fields)', async () => {
    const head = await getHead();
    const flipped = `${head.signature.slice(0, -1)}${head.signature.endsWith('0') ? '1' : '0'}`;
    for (const forged of [{ ...head, signature: flipped }, { ...head, seq: head.seq - 1 }, { ...head, signedAt: new Date(0).toISOString() }]) {
      const res = await verify(forged);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('AUDIT_HEAD_SIGNATURE_INVALID');
    }
    const partial = await verify({ seq: head.seq, hash: head.hash });
    expect(partial.status).toBe(400);
    expect(partial.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['signature', 'signedAt']);
  });

  it('the signing key survives a restart: a head recorded before still verifies after', async () => {
    const head = await getHead();
    await app.close();
    app = await startTestApp({ database: db, adminKey: app.adminKey, env: { LETHE_MODEL_DIR: `${db.dataDir}/no-model`, LETHE_ROLE: 'api' } });
    const res = await verify(head);
    expect(res.status).toBe(200);
    expect(res.body.valid).toBe(true);
  });

  it('events deleted from the end: the chain alone still verifies, the recorded head does not', async () => {
    const recorded = await getHead();
    await addEvents(2); // later events are fine: the head is still reached
    expect((await verify(recorded)).body.valid).toBe(true);
    await deleteNewest(4); // the 2 new events and the last 2 the auditor saw
    expect((await verify()).body).toMatchObject({ valid: true });
    const res = await verify(recorded);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ valid: false, firstBadSeq: recorded.seq - 1, headSeq: recorded.seq });
    expect(res.body.reason).toMatch(/^removed: the chain ends at seq \d+ but the recorded head is seq \d+/);
  });

  it('deleted events replaced by new ones: seq is reached again but its hash differs', async () => {
    const recorded = await getHead();
    await deleteNewest(1);
    await addEvents(1); // a new event takes the deleted one's seq
    expect((await verify()).body).toMatchObject({ valid: true });
    const res = await verify(recorded);
    expect(res.body).toMatchObject({ valid: false, firstBadSeq: recorded.seq, headSeq: recorded.seq });
    expect(res.body.reason).toMatch(/^changed: the event at seq \d+ no longer has the recorded head's hash/);
  });
});
