import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobContext, JobProgressUpdate } from '../../src/modules/jobs/job-handler.js';
import { createModelFixture, type ModelFixture } from '../../src/serving/testing/model-fixture.js';
import { TaskTrainingHandler } from '../../src/modules/tasks/task-training.handler.js';
import { TaskRepository } from '../../src/modules/tasks/task.repository.js';
import { http, startTestApp, type TestApp } from '../support/app.js';

const example = (who: string, answer: string) => ({ prompt: `Question: Where was ${who} born?\nAnswer:`, completion: ` ${answer}.` });

/** A job context like the queue's, with our own signal and a progress log. */
function context(jobId: string, signal: AbortSignal, log: JobProgressUpdate[]): JobContext {
  return { jobId, name: 'tasks.train', subject: null, attempt: 1, maxAttempts: 2, signal, progress: async (u) => void log.push(u) };
}

describe('tasks.train crash safety', () => {
  let fixture: ModelFixture;
  let app: TestApp;
  let handler: TaskTrainingHandler;
  let taskId: string;

  beforeAll(async () => {
    fixture = await createModelFixture(9);
    app = await startTestApp({ env: { LETHE_MODEL_DIR: fixture.dir, LETHE_MODEL_ID: 'tiny', LETHE_INFERENCE_WORKERS: '1' } });
    handler = app.app.get(TaskTrainingHandler);
    const created = await http(app.baseUrl, 'POST', '/v1/tasks', {
      key: app.adminKey,
      body: { name: 'crashy', description: 'd', examples: [example('Ann', 'X'), example('Bob', 'Y'), example('Cid', 'Z')] },
    });
    taskId = created.body.id;
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await fixture?.dispose();
  });

  const adapters = async () => (await http(app.baseUrl, 'GET', '/v1/adapters?name=crashy', { key: app.adminKey })).body.items as Array<{ id: string; status: string; lineage: Record<string, unknown> }>;

  it('a run stopped mid-training leaves nothing active, and the retry of the same job reuses its adapter', async () => {
    const jobId = randomUUID();
    const controller = new AbortController();
    const log: JobProgressUpdate[] = [];
    const payload = { taskId, actor: 'system', options: { steps: 400, batchSize: 3, keepCheckpoints: 2, checkpointEvery: 2 } };
    const run = handler.handle(payload, context(jobId, controller.signal, log));
    // Stop as soon as the first training progress arrives from the worker thread (a shutdown hand-back).
    for (let i = 0; i < 600 && !log.some((u) => u.phase === 'train' && (u.step ?? 0) > 0); i++) await new Promise((r) => setTimeout(r, 100));
    controller.abort(new Error('shutdown'));
    await expect(run).rejects.toThrow();
    let rows = await adapters();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'training', lineage: { jobId } });
    const repo = app.app.get(TaskRepository);
    expect((await repo.checkpointStats(rows[0].id)).count).toBe(0);
    expect((await repo.findById(taskId))!.status).toBe('training');

    const again = await handler.handle({ ...payload, options: { ...payload.options, steps: 4 } }, context(jobId, new AbortController().signal, []));
    expect(again.adapterId).toBe(rows[0].id);
    rows = await adapters();
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe('active');
    expect((await repo.checkpointStats(rows[0].id)).steps).toEqual([2, 4]);
  }, 300_000);

  it('a failing run marks its adapter failed and the task failed, audited', async () => {
    const jobId = randomUUID();
    const payload = { taskId, actor: 'system', options: { steps: 2, keepCheckpoints: 0 } };
    await expect(handler.handle(payload, context(jobId, new AbortController().signal, []))).rejects.toThrow(/keepCheckpoints/);
    const failed = (await adapters()).find((a) => a.lineage.jobId === jobId)!;
    expect(failed.status).toBe('failed');
    expect((await app.app.get(TaskRepository).findById(taskId))!.status).toBe('failed');
    const audit = await http(app.baseUrl, 'GET', `/v1/admin/audit?subject=task:${taskId}`, { key: app.adminKey });
    expect(audit.body.items.at(-1)).toMatchObject({ action: 'task.train_failed', details: { jobId, adapterId: failed.id } });
    // The earlier version stays the active one.
    expect((await adapters()).filter((a) => a.status === 'active')).toHaveLength(1);
  }, 300_000);
});
