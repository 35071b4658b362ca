/**
 * Unlearning requests end to end on a real database (PGlite, and the DATABASE_URL server when set),
 * through the booted app over HTTP, with a tiny random model so the jobs take seconds: submit → job
 * → active; idempotent resubmission; raw items deleted unless keepData; a worker thread killed
 * during training leaves nothing active and the retried job completes; two requests in a row (the
 * second trains against the first's A factors); revoke; every transition audited with its actor;
 * a request whose activation checks fail ends needs_review (stored, inactive, not routed) until an
 * admin activates it with a reason, or revokes it. The demo-model behaviour (refusals, retained answers) is in unlearning-demo.test.ts.
 */
import { rm } from 'node:fs/promises';
import type { Worker } from 'node:worker_threads';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnlearningRunner } from '../../src/modules/unlearning/unlearning-runner.service.js';
import { TINY_FORGET, writeTinyCheckpoint } from '../../src/unlearning/testing/tiny-checkpoint.js';
import { http, startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, TEST_BACKENDS, type TestDatabase } from '../support/database.js';

const FINAL = new Set(['active', 'needs_review', 'failed', 'revoked']);
/**
 * The activation thresholds of this app. The tiny random model's gate fires on any text (its
 * reference false-fire rate is 1 on the bundled set), so that check is off here; the forget answer
 * rate check stays on: the normal requests' answers (ann, cat...) are never generated (rate 0),
 * while a request trained to answer what it should forget ("no idea" relabelled as "no idea")
 * keeps answering it (rate 1) and must end needs_review.
 */
const THRESHOLDS = {
  LETHE_UNLEARNING_MAX_FORGET_ANSWER_RATE: '0.5',
  LETHE_UNLEARNING_MAX_REFERENCE_FALSE_FIRE_RATE: '1',
  LETHE_UNLEARNING_MAX_NEAR_NEGATIVE_COLLATERAL: '1',
  LETHE_UNLEARNING_ESCALATION_SECONDS: '0',
};

describe.each(TEST_BACKENDS)('unlearning requests on %s', (backend) => {
  let db: TestDatabase;
  let app: TestApp;
  let modelDir: string;
  let operator: { id: string; key: string };

  const submit = (body: unknown, headers: Record<string, string> = {}) =>
    http(app.baseUrl, 'POST', '/v1/unlearning-requests', { key: operator.key, body, headers });
  const get = (id: string) => http(app.baseUrl, 'GET', `/v1/unlearning-requests/${id}`, { key: operator.key });
  async function waitFinal(id: string, timeoutMs = 90_000): Promise<Record<string, any>> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const res = await get(id);
      if (FINAL.has(res.body.status)) return res.body;
      if (Date.now() > end) throw new Error(`request ${id} still ${res.body.status}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const body = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    items: TINY_FORGET,
    relabel: 'replacement',
    replacement: 'no idea',
    options: { rank: 4, alpha: 8, epochs: 2 },
    ...extra,
  });
  const activeUnlearning = async () =>
    (await http(app.baseUrl, 'GET', '/v1/adapters?kind=unlearning&status=active', { key: operator.key })).body.items as { id: string; lineage: Record<string, unknown> }[];

  beforeAll(async () => {
    modelDir = await writeTinyCheckpoint();
    db = await createTestDatabase(backend);
    app = await startTestApp({
      database: db,
      env: { LETHE_MODEL_DIR: modelDir, LETHE_JOBS_POLL_SECONDS: '0.5', LETHE_INFERENCE_WORKERS: '0', LETHE_BACKEND: 'wasm', ...THRESHOLDS },
    });
    const res = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'ops', role: 'operator' } });
    operator = { id: res.body.id, key: res.body.key };
  });
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
    if (modelDir) await rm(modelDir, { recursive: true, force: true });
  });

  let firstId: string;

  it('submit → 202 → training → active, with adapter, detector, metrics; raw items deleted, sha256 kept', async () => {
    const res = await submit(body('first'));
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'queued', duplicate: false });
    firstId = res.body.id;
    const done = await waitFinal(firstId);
    expect(done.status).toBe('active');
    expect(done.adapterId).toEqual(expect.any(String));
    expect(done.detectorId).toEqual(expect.any(String));
    expect(done.itemsStored).toBe(false);
    expect(done.itemCount).toBe(TINY_FORGET.length);
    expect(done.itemsSha256).toMatch(/^[0-9a-f]{64}$/);
    // Steps: epochs over the forget items plus the near-negatives the bundled reference prompts give (pipeline.ts).
    expect(done.metrics).toMatchObject({ items: TINY_FORGET.length, nearNegatives: { reference: expect.any(Number) } });
    expect(done.metrics.steps).toBeGreaterThanOrEqual(2);
    expect(done.progress).toMatchObject({ phase: 'done' });
    const ds = app.app.get(DataSource);
    const [row] = await ds.query('SELECT items FROM unlearning_request WHERE id = $1', [firstId]);
    expect(row.items).toBeNull();
    const [det] = await ds.query('SELECT status, size_bytes FROM ood_detector WHERE id = $1', [done.detectorId]);
    expect(det.status).toBe('active');
    expect(Number(det.size_bytes)).toBe(done.metrics.detectorBytes);
    const active = await activeUnlearning();
    expect(active.map((a) => a.id)).toEqual([done.adapterId]);
    expect(active[0].lineage).toMatchObject({ unlearningRequestId: firstId });
  });

  it('audits every transition with the operator as actor', async () => {
    const res = await http(app.baseUrl, 'GET', `/v1/admin/audit?subject=unlearning_request:${firstId}`, { key: app.adminKey });
    const events = res.body.items as { action: string; actor: string }[];
    expect(events.map((e) => e.action)).toEqual(['unlearning.submit', 'unlearning.start', 'unlearning.calibrating', 'unlearning.evaluating', 'unlearning.activate']);
    expect(new Set(events.map((e) => e.actor))).toEqual(new Set([operator.id]));
    expect((await http(app.baseUrl, 'GET', '/v1/admin/audit/verify', { key: app.adminKey })).body).toMatchObject({ valid: true });
  });

  it('an Idempotency-Key returns the same request instead of a duplicate', async () => {
    const a = await submit(body('idem', { options: { rank: 4, alpha: 8, epochs: 1, keepData: true } }), { 'idempotency-key': 'k-1' });
    const b = await submit(body('idem', { options: { rank: 4, alpha: 8, epochs: 1, keepData: true } }), { 'idempotency-key': 'k-1' });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.body).toMatchObject({ id: a.body.id, duplicate: true });
    const list = await http(app.baseUrl, 'GET', '/v1/unlearning-requests?name=idem', { key: operator.key });
    expect(list.body.total).toBe(1);
    const done = await waitFinal(a.body.id);
    expect(done.status).toBe('active');
    // keepData: the raw items stay.
    expect(done.itemsStored).toBe(true);
    const [row] = await app.app.get(DataSource).query('SELECT items FROM unlearning_request WHERE id = $1', [a.body.id]);
    expect(row.items).toEqual(TINY_FORGET);
  });

  it('a second request trains against the earlier adapters (L_orth > 0) and both stay active', async () => {
    const before = await activeUnlearning();
    const res = await submit(body('second'));
    const done = await waitFinal(res.body.id);
    expect(done.status).toBe('active');
    expect(done.metrics.orthLast).toBeGreaterThan(0);
    const after = await activeUnlearning();
    expect(after.map((a) => a.id).sort()).toEqual([...before.map((a) => a.id), done.adapterId].sort());
  });

  it('killing the worker during training leaves nothing active; the retried job completes', async () => {
    const runner = app.app.get(UnlearningRunner);
    const before = (await activeUnlearning()).map((a) => a.id);
    let killed = 0;
    const seenWhileDown: string[][] = [];
    const stop = runner.onWorkerStart((w: Worker) => {
      if (killed > 0) return;
      w.on('message', (m: { kind: string; progress?: { phase: string; step?: number } }) => {
        if (killed === 0 && m.kind === 'progress' && m.progress?.phase === 'training' && m.progress.step === 1) {
          killed++;
          void w.terminate();
        }
      });
    });
    try {
      const res = await submit(body('killed', { options: { rank: 4, alpha: 8, epochs: 3 } }));
      // Wait for the failed attempt to be recorded, then look at what is active.
      const end = Date.now() + 60_000;
      for (;;) {
        const r = await get(res.body.id);
        if (r.body.attempts >= 1 && (r.body.status === 'queued' || r.body.error)) {
          seenWhileDown.push((await activeUnlearning()).map((a) => a.id));
          break;
        }
        if (FINAL.has(r.body.status) || Date.now() > end) break;
        await new Promise((r2) => setTimeout(r2, 100));
      }
      const done = await waitFinal(res.body.id);
      expect(killed).toBe(1);
      expect(seenWhileDown).toEqual([before]);
      expect(done.status).toBe('active');
      expect(done.attempts).toBe(2);
      const audit = await http(app.baseUrl, 'GET', `/v1/admin/audit?subject=unlearning_request:${res.body.id}`, { key: app.adminKey });
      expect(audit.body.items.map((e: { action: string }) => e.action)).toContain('unlearning.retry');
    } finally {
      stop();
    }
  });

  it('a request that fails on every attempt ends failed with the reason; nothing active, items deleted', async () => {
    const before = (await activeUnlearning()).map((a) => a.id);
    // 60 words: longer than the tiny model's 48-position context, so every attempt fails.
    const tooLong = Array.from({ length: 60 }, (_, i) => (i % 2 ? 'book' : 'who')).join(' ');
    const res = await submit(body('doomed', { items: [{ prompt: tooLong, answer: 'ann' }, ...TINY_FORGET] }));
    const done = await waitFinal(res.body.id, 120_000);
    expect(done.status).toBe('failed');
    expect(done.attempts).toBe(3);
    expect(done.error).toMatch(/^failed after 3 attempt\(s\): /);
    expect(done.itemsStored).toBe(false);
    expect(done.adapterId).toBeNull();
    expect((await activeUnlearning()).map((a) => a.id)).toEqual(before);
    const audit = await http(app.baseUrl, 'GET', `/v1/admin/audit?subject=unlearning_request:${res.body.id}`, { key: app.adminKey });
    const actions = audit.body.items.map((e: { action: string }) => e.action);
    expect(actions.filter((a: string) => a === 'unlearning.retry')).toHaveLength(2);
    expect(actions[actions.length - 1]).toBe('unlearning.fail');
  });

  it('revoke (admin only) stops routing the adapter and detector; history stays', async () => {
    expect((await http(app.baseUrl, 'POST', `/v1/unlearning-requests/${firstId}/revoke`, { key: operator.key, body: {} })).status).toBe(403);
    const res = await http(app.baseUrl, 'POST', `/v1/unlearning-requests/${firstId}/revoke`, { key: app.adminKey, body: { reason: 'mistake' } });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('revoked');
    const adapter = await http(app.baseUrl, 'GET', `/v1/adapters/${res.body.adapterId}`, { key: operator.key });
    expect(adapter.body.status).toBe('revoked');
    expect((await activeUnlearning()).map((a) => a.id)).not.toContain(res.body.adapterId);
    const [det] = await app.app.get(DataSource).query('SELECT status FROM ood_detector WHERE id = $1', [res.body.detectorId]);
    expect(det.status).toBe('revoked');
    expect((await http(app.baseUrl, 'POST', `/v1/unlearning-requests/${firstId}/revoke`, { key: app.adminKey, body: {} })).status).toBe(409);
  });

  it('streams progress as server-sent events until the request is final', async () => {
    const res = await submit(body('sse'));
    const stream = await fetch(`${app.baseUrl}/v1/unlearning-requests/${res.body.id}/events`, {
      headers: { authorization: `Bearer ${operator.key}` },
      signal: AbortSignal.timeout(90_000),
    });
    expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
    const text = await stream.text();
    const events = text
      .split('\n\n')
      .filter(Boolean)
      .map((chunk) => ({ event: /^event: (.*)$/m.exec(chunk)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(chunk)![1]) }));
    expect(events[events.length - 1]).toMatchObject({ event: 'end', data: { status: 'active' } });
    const statuses = events.filter((e) => e.event === 'progress').map((e) => e.data.status);
    expect(statuses[statuses.length - 1]).toBe('active');
    expect(new Set(statuses).size).toBeGreaterThan(1);
  });

  describe('activation checks', () => {
    const admin = (method: string, path: string, body?: unknown) => http(app.baseUrl, method, path, { key: app.adminKey, body });
    // One item whose answer is its own relabel target: training cannot make it stop answering.
    const failing = (name: string) =>
      body(name, {
        items: [{ prompt: TINY_FORGET[0].prompt, answer: 'no idea' }],
        // Enough steps at the default learning rate (3e-3) for the tiny model to learn to say it.
        options: { rank: 4, alpha: 8, epochs: 40 },
        referencePrompts: ['one plus two', 'three times four'],
      });
    const planFor = async (prompt: string) => {
      const model = (await admin('GET', '/v1/models')).body.data[0].id as string;
      const res = await admin('POST', '/v1/completions', { model, prompt, max_tokens: 1, temperature: 0 });
      expect(res.status).toBe(200);
      return res.body.lethe.routing.entries as { adapterId: string; kind: string; applied: boolean; strength: number }[];
    };
    const metric = async (outcome: string) => {
      const text = (await admin('GET', '/metrics')).body as string;
      return Number(new RegExp(`^lethe_unlearning_outcomes_total\\{outcome="${outcome}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    };
    let review: Record<string, any>;
    let other: Record<string, any>;

    it('a request whose checks fail ends needs_review: adapter and detector stored inactive, failed checks in the API and the audit log', async () => {
      const [a, b] = [await submit(failing('review')), await submit(failing('review-revoke'))];
      expect(a.status).toBe(202);
      review = await waitFinal(a.body.id);
      other = await waitFinal(b.body.id);
      for (const r of [review, other]) {
        expect(r.status).toBe('needs_review');
        expect(r.adapterId).toEqual(expect.any(String));
        expect(r.review).toMatchObject({ passed: false, failed: [{ name: 'forgetAnswerRate', value: 1, threshold: 0.5, passed: false }] });
        expect(r.review.checks.map((c: { name: string }) => c.name)).toEqual(['forgetAnswerRate', 'referenceFalseFireRate', 'nearNegativeCollateral']);
        expect(r.metrics.activation.failures).toEqual(['forgetAnswerRate']);
        // The bundled generic set plus the request's own reference prompts (no world.json here).
        expect(r.metrics.referenceSet).toEqual({ bundled: 60, world: 0, request: 2 });
      }
      expect(review.progress).toMatchObject({ phase: 'needs_review' });
      expect((await admin('GET', `/v1/adapters/${review.adapterId}`)).body.status).toBe('inactive');
      const [det] = await app.app.get(DataSource).query('SELECT status FROM ood_detector WHERE id = $1', [review.detectorId]);
      expect(det.status).toBe('inactive');
      expect((await activeUnlearning()).map((x) => x.id)).not.toContain(review.adapterId);
      const listed = await http(app.baseUrl, 'GET', '/v1/unlearning-requests?status=needs_review', { key: operator.key });
      expect(listed.body.items.map((x: { id: string }) => x.id).sort()).toEqual([review.id, other.id].sort());
      const audit = await admin('GET', `/v1/admin/audit?subject=unlearning_request:${review.id}`);
      const last = audit.body.items[audit.body.items.length - 1];
      expect(last).toMatchObject({ action: 'unlearning.needs_review', actor: operator.id, details: { adapterId: review.adapterId, failures: ['forgetAnswerRate'] } });
      expect(await metric('needs_review')).toBe(2);
    });

    it('a needs_review adapter is never routed, and the generic adapter lifecycle cannot switch it on', async () => {
      expect((await planFor(TINY_FORGET[0].prompt)).map((e) => e.adapterId)).not.toContain(review.adapterId);
      expect((await admin('POST', `/v1/adapters/${review.adapterId}/activate`)).status).toBe(403);
      expect((await admin('GET', `/v1/adapters/${review.adapterId}`)).body.status).toBe('inactive');
    });

    let winningReason = '';

    it('activate: admin only, a non-blank reason required; one of two concurrent activations wins, the other is 409', async () => {
      const path = `/v1/unlearning-requests/${review.id}/activate`;
      expect((await http(app.baseUrl, 'POST', path, { key: operator.key, body: { reason: 'looks fine' } })).status).toBe(403);
      for (const bad of [{}, { reason: '' }, { reason: '   ' }, { reason: 'x'.repeat(1001) }]) {
        const res = await admin('POST', path, bad);
        expect(res.status).toBe(400);
        expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain('reason');
      }
      const reasons = ['collateral acceptable for this request', 'again'];
      const both = await Promise.all(reasons.map((reason) => admin('POST', path, { reason })));
      expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
      const ok = both.find((r) => r.status === 200)!;
      // Either may win the race; the audit below must hold the winner's reason.
      winningReason = reasons[both.indexOf(ok)];
      expect(ok.body).toMatchObject({ id: review.id, status: 'active', review: { passed: false } });
      expect((await admin('POST', path, { reason: 'third time' })).status).toBe(409);
      expect((await admin('POST', `/v1/unlearning-requests/${firstId}/activate`, { reason: 'not in review' })).status).toBe(409);
    });

    it('once activated, adapter and detector are active and completions route the forget prompt through it; audited with the reason', async () => {
      expect((await admin('GET', `/v1/adapters/${review.adapterId}`)).body.status).toBe('active');
      const [det] = await app.app.get(DataSource).query('SELECT status FROM ood_detector WHERE id = $1', [review.detectorId]);
      expect(det.status).toBe('active');
      // The registry learns of the change by NOTIFY: give it a moment.
      let entry: { adapterId: string; kind: string; applied: boolean; strength: number } | undefined;
      for (let i = 0; i < 40 && !entry; i++) {
        entry = (await planFor(TINY_FORGET[0].prompt)).find((e) => e.adapterId === review.adapterId);
        if (!entry) await new Promise((r) => setTimeout(r, 250));
      }
      expect(entry).toMatchObject({ kind: 'unlearning', applied: true });
      expect(entry!.strength).toBeGreaterThan(0);
      const audit = await admin('GET', `/v1/admin/audit?subject=unlearning_request:${review.id}`);
      const activations = audit.body.items.filter((e: { action: string }) => e.action === 'unlearning.activate');
      expect(activations).toHaveLength(1);
      expect(activations[0].actor).not.toBe(operator.id);
      expect(activations[0].details).toMatchObject({ from: 'needs_review', reason: winningReason, acceptedFailures: ['forgetAnswerRate'] });
      expect(await metric('review_activated')).toBe(1);
    });

    it('revoke works on a needs_review request: adapter and detector revoked, never served', async () => {
      const res = await admin('POST', `/v1/unlearning-requests/${other.id}/revoke`, { reason: 'checks failed' });
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('revoked');
      expect((await admin('GET', `/v1/adapters/${other.adapterId}`)).body.status).toBe('revoked');
      const [det] = await app.app.get(DataSource).query('SELECT status FROM ood_detector WHERE id = $1', [other.detectorId]);
      expect(det.status).toBe('revoked');
      expect((await admin('POST', `/v1/unlearning-requests/${other.id}/activate`, { reason: 'too late' })).status).toBe(409);
      expect((await http(app.baseUrl, 'GET', '/v1/admin/audit/verify', { key: app.adminKey })).body).toMatchObject({ valid: true });
    });
  });
});
