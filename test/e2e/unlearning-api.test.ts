/**
 * POST /v1/unlearning-requests over real HTTP: the bad-input matrix answers 4xx naming the field
 * (never a 500, never a queued request), roles are enforced, unknown ids are 404s.
 */
import { rm } from 'node:fs/promises';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNLEARNING_LIMITS } from '../../src/modules/unlearning/unlearning.dto.js';
import { writeTinyCheckpoint } from '../../src/unlearning/testing/tiny-checkpoint.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

const ok = { name: 'ok', items: [{ prompt: 'who wrote the book', answer: 'ann' }], relabel: 'refusal' };
const long = (n: number) => 'x'.repeat(n);

describe('unlearning API input validation', () => {
  let app: TestApp;
  let modelDir: string;
  let operator: string;
  let client: string;

  beforeAll(async () => {
    modelDir = await writeTinyCheckpoint();
    // A worker-less app: requests are validated and stored but never trained here.
    app = await startTestApp({ env: { LETHE_MODEL_DIR: modelDir, LETHE_INFERENCE_WORKERS: '0', LETHE_ROLE: 'api' } });
    const mk = async (role: string) => (await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: role, role } })).body.key as string;
    operator = await mk('operator');
    client = await mk('client');
  });
  afterAll(async () => {
    await app?.close();
    if (modelDir) await rm(modelDir, { recursive: true, force: true });
  });

  const post = (body: unknown, key = operator, headers: Record<string, string> = {}) =>
    http(app.baseUrl, 'POST', '/v1/unlearning-requests', { key, body, headers });
  const fields = (res: { body: { error: { details: { field: string }[] } } }) => [...new Set(res.body.error.details.map((d) => d.field))].sort();

  const cases: { name: string; body: unknown; status: number; fields: string[] }[] = [
    { name: 'empty items', body: { ...ok, items: [] }, status: 400, fields: ['items'] },
    { name: 'no items nor texts', body: { name: 'x', relabel: 'refusal' }, status: 400, fields: ['items'] },
    { name: 'items and texts', body: { ...ok, texts: ['a text'] }, status: 400, fields: ['items'] },
    { name: 'empty texts', body: { name: 'x', texts: [], relabel: 'refusal' }, status: 400, fields: ['texts'] },
    { name: 'too many items', body: { ...ok, items: Array.from({ length: UNLEARNING_LIMITS.maxItems + 1 }, () => ok.items[0]) }, status: 400, fields: ['items'] },
    { name: 'oversize prompt', body: { ...ok, items: [{ prompt: long(UNLEARNING_LIMITS.maxPromptChars + 1) }] }, status: 400, fields: ['items.0.prompt'] },
    { name: 'oversize answer', body: { ...ok, items: [{ prompt: 'q', answer: long(UNLEARNING_LIMITS.maxAnswerChars + 1) }] }, status: 400, fields: ['items.0.answer'] },
    { name: 'empty prompt', body: { ...ok, items: [{ prompt: '' }] }, status: 400, fields: ['items.0.prompt'] },
    { name: 'item not an object', body: { ...ok, items: ['just a string'] }, status: 400, fields: ['items.0'] },
    { name: 'unknown item field', body: { ...ok, items: [{ prompt: 'q', secret: 1 }] }, status: 400, fields: ['items.0.secret'] },
    { name: 'wrong relabel', body: { ...ok, relabel: 'forget-harder' }, status: 400, fields: ['relabel'] },
    { name: 'missing relabel', body: { name: 'x', items: ok.items }, status: 400, fields: ['relabel'] },
    { name: 'replacement without text', body: { ...ok, relabel: 'replacement' }, status: 400, fields: ['replacement'] },
    { name: 'replacement with refusal', body: { ...ok, replacement: 'nope' }, status: 400, fields: ['replacement'] },
    { name: 'unknown option', body: { ...ok, options: { rank: 8, turbo: true } }, status: 400, fields: ['options.turbo'] },
    { name: 'rank out of range', body: { ...ok, options: { rank: 0 } }, status: 400, fields: ['options.rank'] },
    { name: 'fractional epochs', body: { ...ok, options: { epochs: 1.5 } }, status: 400, fields: ['options.epochs'] },
    { name: 'negative lambda', body: { ...ok, options: { lambda: -1 } }, status: 400, fields: ['options.lambda'] },
    { name: 'keepData not boolean', body: { ...ok, options: { keepData: 'yes' } }, status: 400, fields: ['options.keepData'] },
    { name: 'unknown top-level field', body: { ...ok, priority: 'high' }, status: 400, fields: ['priority'] },
    { name: 'missing name', body: { items: ok.items, relabel: 'refusal' }, status: 400, fields: ['name'] },
    { name: 'oversize name', body: { ...ok, name: long(UNLEARNING_LIMITS.maxNameChars + 1) }, status: 400, fields: ['name'] },
    { name: 'referencePrompts not an array', body: { ...ok, referencePrompts: 'one plus two' }, status: 400, fields: ['referencePrompts'] },
    {
      name: 'too many referencePrompts',
      body: { ...ok, referencePrompts: Array.from({ length: UNLEARNING_LIMITS.maxReferencePrompts + 1 }, () => 'q') },
      status: 400,
      fields: ['referencePrompts'],
    },
    { name: 'oversize reference prompt', body: { ...ok, referencePrompts: ['q', long(UNLEARNING_LIMITS.maxReferencePromptChars + 1)] }, status: 400, fields: ['referencePrompts'] },
    { name: 'empty reference prompt', body: { ...ok, referencePrompts: [''] }, status: 400, fields: ['referencePrompts'] },
    { name: 'non-string reference prompt', body: { ...ok, referencePrompts: [3] }, status: 400, fields: ['referencePrompts'] },
  ];

  it.each(cases)('$name → $status naming $fields', async (c) => {
    const res = await post(c.body);
    expect(res.status).toBe(c.status);
    expect(res.body.error.code).toBe('VALIDATION');
    expect(fields(res)).toEqual(c.fields);
  });

  it('nothing was stored by the rejected requests', async () => {
    const [row] = await app.app.get(DataSource).query('SELECT count(*)::int AS n FROM unlearning_request');
    expect(row.n).toBe(0);
  });

  it('a body over the size limit is 413', async () => {
    const res = await post({ ...ok, items: Array.from({ length: 400 }, () => ({ prompt: long(2000), answer: long(900) })) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('a bad Idempotency-Key is 400 naming the header', async () => {
    const res = await post(ok, operator, { 'idempotency-key': long(UNLEARNING_LIMITS.maxIdempotencyKeyChars + 1) });
    expect(res.status).toBe(400);
    expect(fields(res)).toEqual(['Idempotency-Key']);
  });

  it('roles: clients may neither submit nor read; a valid request is accepted with 202', async () => {
    expect((await post(ok, client)).status).toBe(403);
    expect((await http(app.baseUrl, 'GET', '/v1/unlearning-requests', { key: client })).status).toBe(403);
    const res = await post(ok);
    expect(res.status).toBe(202);
    const one = await http(app.baseUrl, 'GET', `/v1/unlearning-requests/${res.body.id}`, { key: operator });
    expect(one.body).toMatchObject({ id: res.body.id, status: 'queued', itemCount: 1, itemsStored: true, relabel: 'refusal' });
  });

  it('referencePrompts are accepted and stored for the job; activate is admin-only, needs a reason and a needs_review request', async () => {
    const res = await post({ ...ok, name: 'with-refs', referencePrompts: ['one plus two', 'Question: What is the capital of France?\nAnswer:'] });
    expect(res.status).toBe(202);
    const [row] = await app.app.get(DataSource).query('SELECT reference_prompts FROM unlearning_request WHERE id = $1', [res.body.id]);
    expect(row.reference_prompts).toEqual(['one plus two', 'Question: What is the capital of France?\nAnswer:']);
    const one = await http(app.baseUrl, 'GET', `/v1/unlearning-requests/${res.body.id}`, { key: operator });
    expect(one.body.review).toBeNull();
    const activate = (key: string, body: unknown, id = res.body.id) => http(app.baseUrl, 'POST', `/v1/unlearning-requests/${id}/activate`, { key, body });
    expect((await activate(operator, { reason: 'ok' })).status).toBe(403);
    expect((await activate(client, { reason: 'ok' })).status).toBe(403);
    for (const body of [{}, { reason: '' }, { reason: ' \n ' }, { reason: 7 }, { reason: long(UNLEARNING_LIMITS.maxReasonChars + 1) }, { reason: 'ok', force: true }]) {
      const bad = await activate(app.adminKey, body);
      expect(bad.status).toBe(400);
      expect(fields(bad).length).toBeGreaterThan(0);
    }
    const queued = await activate(app.adminKey, { reason: 'ok' });
    expect(queued.status).toBe(409);
    expect(queued.body.error).toMatchObject({ code: 'CONFLICT', details: { status: 'queued' } });
    expect((await activate(app.adminKey, { reason: 'ok' }, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('unknown and malformed ids: 404 and 400', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    expect((await http(app.baseUrl, 'GET', `/v1/unlearning-requests/${missing}`, { key: operator })).status).toBe(404);
    expect((await http(app.baseUrl, 'GET', `/v1/unlearning-requests/${missing}/events`, { key: operator })).status).toBe(404);
    expect((await http(app.baseUrl, 'POST', `/v1/unlearning-requests/${missing}/revoke`, { key: app.adminKey, body: {} })).status).toBe(404);
    const bad = await http(app.baseUrl, 'GET', '/v1/unlearning-requests/not-a-uuid', { key: operator });
    expect(bad.status).toBe(400);
    expect(fields(bad)).toEqual(['id']);
    const q = await http(app.baseUrl, 'GET', '/v1/unlearning-requests?status=done&limit=0', { key: operator });
    expect(q.status).toBe(400);
    expect(fields(q)).toEqual(['limit', 'status']);
  });
});
