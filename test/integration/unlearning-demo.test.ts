/**
 * Unlearning on the demo model (models/demo) through the booted app: a forgotten author's question
 * gets the refusal while retained authors' questions are still answered right; a second request is
 * honoured together with the first; revoking the first restores its answers. Answers go through the
 * service's gated path (UnlearningRuntime → gatedAnswer: base features → detectors → router plan →
 * stacked adapters). The thresholds on retained answers reflect the measured false-fire rate
 * (docs/benchmarks.md); exact numbers are the benchmark's job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreAnswer } from '../../src/engine/answer-scoring.js';
import { forgetGroups, itemsOfAuthors, readWorld, trainedItems, type WorldItem } from '../../src/world/world.js';
import { UnlearningRuntime } from '../../src/modules/unlearning/unlearning-runtime.service.js';
import { isRelabelAnswer } from '../../src/unlearning/unlearning-checks.js';
import { http, startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const MODEL_DIR = process.env.LETHE_DEMO_MODEL_DIR ?? 'models/demo';
const FINAL = new Set(['active', 'failed', 'revoked']);

describe('unlearning on the demo model', () => {
  let db: TestDatabase;
  let app: TestApp;
  let runtime: UnlearningRuntime;
  const world = readWorld('models/demo/world.json');
  const [groupA, groupB] = forgetGroups(world, 2, 1);
  const forgetA = itemsOfAuthors(world, [groupA[0].id], ['trained']);
  const forgetB = itemsOfAuthors(world, [groupB[0].id], ['trained']);
  const inGroups = new Set([groupA[0].id, groupB[0].id]);
  const candidates = trainedItems(world).filter((i) => !inGroups.has(i.authorId) && i.phrasing === 0 && i.authorId < 40);
  let knownA: WorldItem[] = [];
  let knownB: WorldItem[] = [];
  let retained: WorldItem[] = [];
  const requests: { id: string; refusal: string }[] = [];

  const answers = async (items: WorldItem[]) => (await runtime.answer(items.map((i) => i.prompt), { maxTokens: 12 })).map((a) => a.result.text);
  const correct = async (items: WorldItem[]) => (await answers(items)).map((text, k) => scoreAnswer(text, items[k].answer));
  async function forget(name: string, items: WorldItem[]): Promise<{ id: string; refusal: string }> {
    const res = await http(app.baseUrl, 'POST', '/v1/unlearning-requests', {
      key: app.adminKey,
      body: { name, items: items.map((i) => ({ prompt: i.prompt, answer: i.answer })), relabel: 'refusal' },
    });
    expect(res.status).toBe(202);
    for (;;) {
      const r = await http(app.baseUrl, 'GET', `/v1/unlearning-requests/${res.body.id}`, { key: app.adminKey });
      if (FINAL.has(r.body.status)) {
        expect(r.body.status).toBe('active');
        return { id: res.body.id, refusal: r.body.metrics.refusals[0] };
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    app = await startTestApp({ database: db, env: { LETHE_MODEL_DIR: MODEL_DIR, LETHE_JOBS_POLL_SECONDS: '0.5', LETHE_INFERENCE_WORKERS: '0', LETHE_BACKEND: 'wasm' } });
    runtime = app.app.get(UnlearningRuntime);
    const baseA = await correct(forgetA);
    const baseB = await correct(forgetB);
    const baseR = await correct(candidates);
    knownA = forgetA.filter((_, k) => baseA[k]);
    knownB = forgetB.filter((_, k) => baseB[k]);
    retained = candidates.filter((_, k) => baseR[k]);
  }, 300_000);
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
  });

  it('the base model knows the authors to forget and the retained ones', () => {
    expect(knownA.length).toBeGreaterThanOrEqual(5);
    expect(knownB.length).toBeGreaterThanOrEqual(5);
    expect(retained.length).toBeGreaterThanOrEqual(10);
  });

  it('after request 1, author A questions get the refusal; retained authors are still answered right', async () => {
    requests.push(await forget('author-a', forgetA));
    const a = await answers(knownA);
    expect(a.filter((text, k) => !scoreAnswer(text, knownA[k].answer)).length).toBe(knownA.length);
    expect(a.filter((text) => isRelabelAnswer(text, requests[0].refusal)).length).toBeGreaterThanOrEqual(Math.ceil(0.9 * knownA.length));
    const r = await correct(retained);
    expect(r.filter(Boolean).length / retained.length).toBeGreaterThanOrEqual(0.8);
  }, 300_000);

  it('after request 2, both authors are forgotten and retained answers hold', async () => {
    requests.push(await forget('author-b', forgetB));
    const a = await correct(knownA);
    const b = await correct(knownB);
    // A forget item in the detector's held-out 20 % can fall below the gate (S.U. ≈ 2-3 % in the benchmark).
    expect(a.filter(Boolean).length).toBeLessThanOrEqual(Math.floor(0.1 * knownA.length));
    expect(b.filter(Boolean).length).toBeLessThanOrEqual(Math.floor(0.1 * knownB.length));
    const r = await correct(retained);
    expect(r.filter(Boolean).length / retained.length).toBeGreaterThanOrEqual(0.75);
  }, 300_000);

  it('revoking request 1 restores author A answers; author B stays forgotten', async () => {
    const res = await http(app.baseUrl, 'POST', `/v1/unlearning-requests/${requests[0].id}/revoke`, { key: app.adminKey, body: { reason: 'test' } });
    expect(res.status).toBe(200);
    const a = await correct(knownA);
    const b = await correct(knownB);
    expect(a.filter(Boolean).length).toBeGreaterThanOrEqual(Math.ceil(0.8 * knownA.length));
    expect(b.filter(Boolean).length).toBeLessThanOrEqual(Math.floor(0.1 * knownB.length));
  }, 300_000);
});
