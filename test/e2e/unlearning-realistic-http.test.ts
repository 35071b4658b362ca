/**
 * Issue 11 end to end, over HTTP only, the way a user meets it: requests as people write them go
 * through POST /v1/unlearning-requests on the demo model, then POST /v1/completions (routing auto)
 * must withhold the forgotten facts in phrasings no request contained and that no template of the
 * demo world produces, and still answer other authors — and, for a one-fact request, the same
 * author's other facts.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreAnswer } from '../../src/engine/answer-scoring.js';
import { FACT_TYPES, NEW_TEMPLATES, type FactType } from '../../src/world/phrasings.js';
import { formatPrompt, readWorld, type Author } from '../../src/world/world.js';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { DEMO_MODEL_DIR } from '../../src/serving/testing/model-fixture.js';
import { http, startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const FINAL = new Set(['active', 'needs_review', 'failed', 'revoked']);

describe('forgetting that holds on the requests people send (HTTP)', () => {
  let db: TestDatabase;
  let app: TestApp;
  let client: OpenAI;
  const world = readWorld(`${DEMO_MODEL_DIR}/world.json`);
  const authors = world.authors.filter((a) => !a.heldOut);
  const [forgotten, oneFact] = [authors[3], authors[4]];
  const others = authors.slice(20, 32);

  // At most LETHE_MAX_PROMPTS (16) prompts per completion request, as a client must send them.
  const ask = async (prompts: string[]): Promise<string[]> => {
    const out: string[] = [];
    for (let i = 0; i < prompts.length; i += 16) {
      const res = await client.completions.create({ model: 'demo', prompt: prompts.slice(i, i + 16), max_tokens: 12, temperature: 0, stop: ['\n'] });
      out.push(...[...res.choices].sort((a, b) => a.index - b.index).map((c) => c.text));
    }
    return out;
  };
  const question = (a: Author, f: FactType, phrasing: number) => world.items.find((i) => i.authorId === a.id && i.type === f && i.phrasing === phrasing)!;
  /** Prompts with their answers, kept only where the base model answers right (set in beforeAll). */
  const known = async (items: { prompt: string; answer: string }[]) => {
    const got = await ask(items.map((i) => i.prompt));
    return items.filter((i, k) => scoreAnswer(got[k], i.answer));
  };
  const stillRight = async (items: { prompt: string; answer: string }[]) => {
    const got = await ask(items.map((i) => i.prompt));
    return items.filter((i, k) => scoreAnswer(got[k], i.answer)).length;
  };
  async function forget(name: string, items: { prompt: string; answer?: string }[]): Promise<Record<string, unknown>> {
    const res = await http(app.baseUrl, 'POST', '/v1/unlearning-requests', { key: app.adminKey, body: { name, items, relabel: 'refusal' } });
    expect(res.status).toBe(202);
    for (;;) {
      const r = await http(app.baseUrl, 'GET', `/v1/unlearning-requests/${res.body.id}`, { key: app.adminKey });
      if (FINAL.has(r.body.status)) return r.body;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  let newPhrasings: { prompt: string; answer: string }[] = [];
  let otherAuthors: { prompt: string; answer: string }[] = [];
  let oneFactNew: { prompt: string; answer: string }[] = [];
  let oneFactOthers: { prompt: string; answer: string }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    app = await startTestApp({ database: db, env: { LETHE_MODEL_DIR: DEMO_MODEL_DIR, LETHE_INFERENCE_WORKERS: '1', LETHE_JOBS_POLL_SECONDS: '0.5', LETHE_BACKEND: 'wasm' } });
    await app.app.get(ModelHost).whenReady();
    client = new OpenAI({ apiKey: app.adminKey, baseURL: `${app.baseUrl}/v1`, maxRetries: 0 });
    const fresh = (a: Author, f: FactType) => NEW_TEMPLATES[f].map((t) => ({ prompt: formatPrompt(t.replace('{n}', a.name)), answer: a.facts[f] }));
    newPhrasings = await known(FACT_TYPES.flatMap((f) => fresh(forgotten, f)));
    otherAuthors = await known(others.flatMap((a) => FACT_TYPES.slice(0, 4).map((f) => question(a, f, 0))).map((i) => ({ prompt: i.prompt, answer: i.answer })));
    oneFactNew = await known([...fresh(oneFact, 'birthplace'), { prompt: question(oneFact, 'birthplace', oneFact.paraphrasePhrasing.birthplace).prompt, answer: oneFact.facts.birthplace }]);
    oneFactOthers = await known(FACT_TYPES.filter((f) => f !== 'birthplace').map((f) => ({ prompt: question(oneFact, f, 0).prompt, answer: oneFact.facts[f] })));
  }, 300_000);
  afterAll(async () => {
    await app?.close();
    await db?.dispose();
  });

  it('the base model answers what the checks below rely on', () => {
    expect(newPhrasings.length).toBeGreaterThanOrEqual(6);
    expect(otherAuthors.length).toBeGreaterThanOrEqual(30);
    expect(oneFactNew.length).toBeGreaterThanOrEqual(1);
    expect(oneFactOthers.length).toBeGreaterThanOrEqual(5);
  });

  it('one author, each fact asked once: forgotten in phrasings no one trained, other authors still answered', async () => {
    const items = FACT_TYPES.map((f) => {
      const q = question(forgotten, f, [0, 1, 2, 3].find((p) => p !== forgotten.paraphrasePhrasing[f])!);
      return { prompt: q.prompt, answer: q.answer };
    });
    const done = await forget('one-author-once', items);
    expect(done.status).toBe('active');
    expect(await stillRight(newPhrasings)).toBeLessThanOrEqual(Math.floor(0.1 * newPhrasings.length));
    expect(await stillRight(otherAuthors)).toBeGreaterThanOrEqual(Math.ceil(0.97 * otherAuthors.length));
  }, 300_000);

  // The request is typed as a user at a chat box writes it; the questions asked afterwards keep the
  // demo model's capitals (its tokenizer knows names only capitalised: the base model cannot answer
  // a lower-case question, so there would be nothing to withhold).
  it('one fact, typed as a bare lower-case question (no prompt format, no capitals): that fact withheld in other phrasings, the same author’s other facts still answered', async () => {
    const q = question(oneFact, 'birthplace', 0);
    const done = await forget('one-fact', [{ prompt: q.question.toLowerCase(), answer: q.answer }]);
    expect(done.status).toBe('active');
    expect(await stillRight(oneFactNew)).toBeLessThanOrEqual(Math.floor(0.2 * oneFactNew.length));
    expect(await stillRight(oneFactOthers)).toBeGreaterThanOrEqual(Math.ceil(0.8 * oneFactOthers.length));
    expect(await stillRight(otherAuthors)).toBeGreaterThanOrEqual(Math.ceil(0.97 * otherAuthors.length));
  }, 300_000);
});
