import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobQueue } from '../../src/modules/jobs/job-queue.service.js';
import { AdapterStore } from '../../src/modules/inference/adapter-store.service.js';
import { ModelHost } from '../../src/modules/inference/model-host.service.js';
import { createModelFixture, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

/** Tiny tasks on the random fixture model: the point is the service path, not accuracy. */
const example = (city: string, answer: string) => ({ prompt: `Question: Where was ${city} born?\nAnswer:`, completion: ` ${answer}.` });
const TASK_A = { name: 'shout', description: 'Answer in capitals.', examples: [example('Ann', 'PARIS'), example('Bob', 'ROME'), example('Cid', 'OSLO')] };
const TASK_B = { name: 'year', description: 'Answer the year.', examples: [example('Ann', '1901'), example('Bob', '1902'), example('Cid', '1903')] };
const TRAIN = { steps: 6, batchSize: 3, keepCheckpoints: 3, checkpointEvery: 2, seed: 1 };

describe('tasks, generator and generated adapters over HTTP', () => {
  let fixture: ModelFixture;
  let app: TestApp;
  let operator: string;
  let client: string;
  const ids: Record<string, string> = {};

  const wait = (name: string, jobId: string) => app.app.get(JobQueue).waitForJob(name, jobId, { timeoutMs: 240_000, pollMs: 250 });

  beforeAll(async () => {
    fixture = await createModelFixture(5);
    app = await startTestApp({ env: { LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1', LETHE_JOBS_POLL_SECONDS: '0.5' } });
    const op = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'op', role: 'operator' } });
    operator = op.body.key;
    const cl = await http(app.baseUrl, 'POST', '/v1/admin/api-keys', { key: app.adminKey, body: { name: 'cl', role: 'client' } });
    client = cl.body.key;
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await fixture?.dispose();
  });

  it('refuses bad input with 4xx naming the field', async () => {
    const few = await http(app.baseUrl, 'POST', '/v1/tasks', { key: operator, body: { ...TASK_A, examples: TASK_A.examples.slice(0, 2) } });
    expect(few.status).toBe(400);
    expect(few.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'examples', message: expect.stringMatching(/at least 3/) })]));
    const badName = await http(app.baseUrl, 'POST', '/v1/tasks', { key: operator, body: { ...TASK_A, name: 'Bad Name!' } });
    expect(badName.status).toBe(400);
    expect(badName.body.error.message).toMatch(/name/);
    const asClient = await http(app.baseUrl, 'POST', '/v1/tasks', { key: client, body: TASK_A });
    expect(asClient.status).toBe(403);
    const noGen = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { description: 'x', examples: TASK_A.examples } });
    expect(noGen.status).toBe(409);
    expect(noGen.body.error.message).toMatch(/no generator is trained yet/);
    const unknown = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { task: 'no-such-task' } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.details).toMatchObject({ field: 'task' });
    const both = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { task: 'x', examples: TASK_A.examples } });
    expect(both.status).toBe(400);
    const tooEarly = await http(app.baseUrl, 'POST', '/v1/generator/train', { key: operator, body: {} });
    expect(tooEarly.status).toBe(409);
    const badTrain = await http(app.baseUrl, 'POST', '/v1/tasks/00000000-0000-4000-8000-000000000000/train', { key: operator, body: { steps: -1 } });
    expect(badTrain.status).toBe(400);
    expect(badTrain.body.error.details[0].field).toBe('steps');
  });

  it('creates and trains tasks: a task adapter (active) and its checkpoint set, every step audited', async () => {
    for (const t of [TASK_A, TASK_B]) {
      const created = await http(app.baseUrl, 'POST', '/v1/tasks', { key: operator, body: t });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: t.name, status: 'created', adapterId: null, trainingExamples: 3 });
      ids[t.name] = created.body.id;
    }
    const dup = await http(app.baseUrl, 'POST', '/v1/tasks', { key: operator, body: TASK_A });
    expect(dup.status).toBe(409);
    for (const t of [TASK_A, TASK_B]) {
      const train = await http(app.baseUrl, 'POST', `/v1/tasks/${ids[t.name]}/train`, { key: operator, body: TRAIN });
      expect(train.status).toBe(202);
      const job = await wait('tasks.train', train.body.jobId);
      expect(job.state, JSON.stringify(job.output)).toBe('completed');
    }
    const task = await http(app.baseUrl, 'GET', `/v1/tasks/${ids.shout}`, { key: operator });
    expect(task.body).toMatchObject({ status: 'trained', training: { state: 'completed', phase: 'done', step: 6, total: 6 } });
    expect(task.body.conditionSha256).toMatch(/^[0-9a-f]{64}$/);
    const adapter = await http(app.baseUrl, 'GET', `/v1/adapters/${task.body.adapterId}`, { key: operator });
    expect(adapter.body).toMatchObject({ name: 'shout', kind: 'task', status: 'active', baseModel: 'tiny' });
    expect(adapter.body.lineage).toMatchObject({ taskId: ids.shout, checkpoints: [2, 4, 6], conditionSha256: task.body.conditionSha256 });
    const list = await http(app.baseUrl, 'GET', '/v1/tasks', { key: operator });
    expect(list.body.total).toBe(2);
    const audit = await http(app.baseUrl, 'GET', `/v1/admin/audit?subject=task:${ids.shout}`, { key: app.adminKey });
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(['task.create', 'task.train_requested', 'task.trained']);
  }, 300_000);

  it('trains a generator version and generates an adapter with lineage that answers through /v1/completions', async () => {
    const train = await http(app.baseUrl, 'POST', '/v1/generator/train', { key: operator, body: { epochs: 3, seed: 2 } });
    expect(train.status).toBe(202);
    expect(train.body.tasks.sort()).toEqual(['shout', 'year']);
    const job = await wait('generator.train', train.body.jobId);
    expect(job.state, JSON.stringify(job.output)).toBe('completed');
    const gens = await http(app.baseUrl, 'GET', '/v1/generator', { key: operator });
    expect(gens.body.items[0]).toMatchObject({ version: 1, status: 'ready' });
    const m = gens.body.items[0].metrics;
    expect(m.design).toBe('basis');
    expect(m.samples).toBe(6);
    expect(m.storageRatioF16).toBeCloseTo(m.generatorBytes / m.adapterBytesF16, 10);
    expect(m.generatorBytes).toBe(gens.body.items[0].sizeBytes);
    expect(m.storageRatio).toBeCloseTo(m.generatorBytes / m.checkpointBytes, 10);

    const gen = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { task: 'shout', seed: 7 } });
    expect(gen.status, JSON.stringify(gen.body)).toBe(201);
    const task = await http(app.baseUrl, 'GET', `/v1/tasks/${ids.shout}`, { key: operator });
    expect(gen.body).toMatchObject({ name: 'shout-generated', kind: 'generated', status: 'active', rank: 4, alpha: 8 });
    // The basis generator reads its own task vector of the task's examples (hashed in the lineage); the
    // routing centroid stays the task's ICM condition.
    expect(gen.body.lineage).toMatchObject({ generatorVersion: 1, design: 'basis', task: 'shout', taskId: ids.shout, seed: 7, conditionSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(gen.body.lineage.conditionSha256).not.toBe(task.body.conditionSha256);

    const history = await http(app.baseUrl, 'GET', `/v1/adapters/${gen.body.id}/history`, { key: operator });
    const actions = history.body.items.map((e: { action: string }) => e.action);
    expect(actions).toEqual(['adapter.create', 'adapter.generate', 'adapter.activate']);
    expect(history.body.items[1].details).toMatchObject({ generatorVersion: 1, task: 'shout', seed: 7, conditionSha256: gen.body.lineage.conditionSha256 });

    // From in-context examples: same generator, a condition computed by the base model.
    const fromExamples = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { description: 'years', examples: TASK_B.examples, seed: 7, name: 'years-gen' } });
    expect(fromExamples.status).toBe(201);
    expect(fromExamples.body.lineage).toMatchObject({ generatorVersion: 1, description: 'years', examples: 3, seed: 7 });

    await app.app.get(ModelHost).whenReady();
    await app.app.get(AdapterStore).refresh();
    const res = await http(app.baseUrl, 'POST', '/v1/completions', { key: client, body: { model: 'tiny:shout-generated', prompt: TASK_A.examples[0].prompt, max_tokens: 4, temperature: 0 } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(typeof res.body.choices[0].text).toBe('string');
    const entry = res.body.lethe.routing.entries.find((e: { adapterId: string }) => e.adapterId === gen.body.id);
    expect(entry).toMatchObject({ name: 'shout-generated', kind: 'generated', applied: true });
  }, 300_000);

  it('gives a task made from examples alone (no training job) a generated adapter that auto routing chooses', async () => {
    const ex = (n: string, y: string) => ({ prompt: `Question: Which year did ${n} come into the world?\nAnswer:`, completion: ` ${y}, I know.` });
    const examples = [ex('Dee', '1911'), ex('Eve', '1922'), ex('Fay', '1933')];
    const created = await http(app.baseUrl, 'POST', '/v1/tasks', { key: operator, body: { name: 'year-know', description: 'The year, then "I know".', examples } });
    expect(created.status).toBe(201);
    const gen = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { task: 'year-know', seed: 3 } });
    expect(gen.status, JSON.stringify(gen.body)).toBe(201);
    expect(gen.body).toMatchObject({ name: 'year-know-generated', kind: 'generated', status: 'active' });
    expect(gen.body.lineage).toMatchObject({ generatorVersion: 1, design: 'basis', task: 'year-know', taskId: created.body.id, seed: 3 });
    const again = await http(app.baseUrl, 'POST', '/v1/adapters/generate', { key: operator, body: { task: 'year-know', seed: 3, name: 'year-know-again' } });
    expect(again.body.lineage.conditionSha256).toBe(gen.body.lineage.conditionSha256); // same examples, same condition
    expect(again.body.blobSha256).toBe(gen.body.blobSha256); // same seed, same weights
    const task = await http(app.baseUrl, 'GET', `/v1/tasks/${created.body.id}`, { key: operator });
    expect(task.body).toMatchObject({ status: 'created', training: null }); // no training job ran

    await app.app.get(AdapterStore).refresh();
    const res = await http(app.baseUrl, 'POST', '/v1/completions', { key: client, body: { model: 'tiny', prompt: examples[1].prompt + examples[1].completion, max_tokens: 2, temperature: 0 } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const auto = res.body.lethe.routing.entries.filter((e: { reason: string }) => e.reason === 'auto');
    expect(auto).toHaveLength(1);
    expect(['year-know-generated', 'year-know-again']).toContain(auto[0].name);
  }, 120_000);
});
