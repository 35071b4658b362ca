/**
 * The job queue on both databases: runs, progress rows, retries with backoff, start-up checks and
 * graceful shutdown (finish within the grace period, or hand back).
 */
import 'reflect-metadata';
import { Global, Inject, Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigModule } from '../../src/config/config.module.js';
import { DatabaseConnection } from '../../src/modules/database/database-connection.js';
import { DatabaseModule } from '../../src/modules/database/database.module.js';
import type { JobCatalog } from '../../src/modules/jobs/job-catalog.js';
import { JobProcessor, type JobContext, type JobHandler } from '../../src/modules/jobs/job-handler.js';
import { JobProgressRepository, type JobProgressRow } from '../../src/modules/jobs/job-progress.repository.js';
import { JobQueue } from '../../src/modules/jobs/job-queue.service.js';
import { JobRegistryError } from '../../src/modules/jobs/job-registry.js';
import { JobsModule } from '../../src/modules/jobs/jobs.module.js';
import type { JobsOptions } from '../../src/modules/jobs/jobs-options.js';
import { MetricsService } from '../../src/modules/metrics/metrics.service.js';
import { createTestDatabase, TEST_BACKENDS, type TestDatabase } from '../support/database.js';

const CATALOG: JobCatalog = {
  'test.echo': {},
  'test.flaky': { retryLimit: 2, retryDelaySeconds: 1 },
  'test.slow': { retryLimit: 0 },
};

/** What the handlers saw, for assertions. */
const seen = {
  flakyStarts: [] as { attempt: number; at: number }[],
  progressMidRun: null as JobProgressRow | null,
  slowMode: 'hang' as 'hang' | 'quick' | 'deaf',
  slowStarted: 0,
  slowAbortReason: null as unknown,
};

@JobProcessor()
@Injectable()
class EchoHandler implements JobHandler<'test.echo', { value: string }> {
  readonly name = 'test.echo';
  constructor(@Inject(JobProgressRepository) private readonly progress: JobProgressRepository) {}
  async handle(payload: { value: string }, ctx: JobContext): Promise<{ echo: string; attempt: number }> {
    await ctx.progress({ phase: 'work', step: 1, total: 2, loss: 0.75, message: 'half way' });
    seen.progressMidRun = await this.progress.find(ctx.jobId);
    await ctx.progress({ step: 2 });
    return { echo: payload.value, attempt: ctx.attempt };
  }
}

@JobProcessor()
@Injectable()
class FlakyHandler implements JobHandler<'test.flaky', Record<string, never>> {
  readonly name = 'test.flaky';
  async handle(_payload: unknown, ctx: JobContext): Promise<void> {
    seen.flakyStarts.push({ attempt: ctx.attempt, at: Date.now() });
    throw new Error(`boom ${ctx.attempt}/${ctx.maxAttempts}`);
  }
}

@JobProcessor()
@Injectable()
class SlowHandler implements JobHandler<'test.slow', { ms: number }> {
  readonly name = 'test.slow';
  async handle(payload: { ms: number }, ctx: JobContext): Promise<{ sleptMs: number }> {
    seen.slowStarted++;
    const ms = seen.slowMode === 'quick' ? 10 : payload.ms;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      if (seen.slowMode === 'deaf') return; // ignores its signal
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        seen.slowAbortReason = ctx.signal.reason;
        reject(ctx.signal.reason);
      });
    });
    return { sleptMs: ms };
  }
}

/** The database of the app started last, so a test can close it after a failed start. */
const opened: { conn?: DatabaseConnection; ds?: DataSource } = {};

@Global()
@Module({ providers: [MetricsService], exports: [MetricsService] })
class TestMetricsModule {}

async function startApp(
  db: TestDatabase,
  opts: { role?: 'api' | 'worker' | 'all'; catalog?: JobCatalog; jobs?: Partial<JobsOptions>; builtIns?: boolean } = {},
): Promise<INestApplicationContext> {
  @Module({
    imports: [
      ConfigModule.forRoot(db.config({ LETHE_ROLE: opts.role ?? 'all' })),
      DatabaseModule,
      TestMetricsModule,
      JobsModule.forRoot({
        catalog: opts.catalog ?? CATALOG,
        builtInHandlers: opts.builtIns ?? false,
        options: { pollIntervalSeconds: 0.5, shutdownGraceSeconds: 10, ...opts.jobs },
      }),
    ],
    providers: [
      EchoHandler,
      FlakyHandler,
      SlowHandler,
      {
        provide: 'CAPTURE_DATABASE',
        inject: [DatabaseConnection, DataSource],
        useFactory: (conn: DatabaseConnection, ds: DataSource) => Object.assign(opened, { conn, ds }),
      },
    ],
  })
  class TestAppModule {}
  // abortOnError false: a failed start rejects instead of exiting the process.
  return NestFactory.createApplicationContext(TestAppModule, { logger: false, abortOnError: false });
}

describe.each(TEST_BACKENDS)('jobs on %s', (backend) => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  describe('with a worker in-process', () => {
    let app: INestApplicationContext;
    let queue: JobQueue;
    let progress: JobProgressRepository;

    beforeAll(async () => {
      app = await startApp(db);
      queue = app.get(JobQueue);
      progress = app.get(JobProgressRepository);
    });
    afterAll(async () => {
      await app?.close();
    });

    it('runs an enqueued job and persists its progress', async () => {
      seen.progressMidRun = null;
      const id = await queue.enqueueRaw('test.echo', { value: 'hi' }, { subject: 'req-1' });
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      const done = await queue.waitForJob('test.echo', id, { timeoutMs: 20_000 });
      expect(done).toMatchObject({ id, state: 'completed', attempts: 1, output: { echo: 'hi', attempt: 1 } });
      // Read back by the handler while it ran: the row was written before the job ended.
      expect(seen.progressMidRun).toMatchObject({ jobId: id, state: 'active', phase: 'work', step: 1, total: 2, loss: 0.75, subject: 'req-1' });
      const row = await progress.find(id);
      expect(row).toMatchObject({ jobId: id, name: 'test.echo', subject: 'req-1', state: 'completed', phase: 'work', step: 2, total: 2, attempt: 1 });
      expect(row?.etaSeconds).toBeNull();
      expect((await progress.findBySubject('req-1')).map((r) => r.jobId)).toEqual([id]);
    });

    it('retries a failing handler with exponential backoff, then marks it failed', async () => {
      seen.flakyStarts = [];
      const id = await queue.enqueueRaw('test.flaky', {});
      const done = await queue.waitForJob('test.flaky', id, { timeoutMs: 30_000 });
      expect(done.state).toBe('failed');
      expect(done.attempts).toBe(3);
      expect(done.output).toMatchObject({ message: 'boom 3/3' });
      expect(seen.flakyStarts.map((s) => s.attempt)).toEqual([1, 2, 3]);
      // retryDelay 1 s, doubled per retry with jitter: >= 1 s, then >= 2 s.
      const gap1 = seen.flakyStarts[1].at - seen.flakyStarts[0].at;
      const gap2 = seen.flakyStarts[2].at - seen.flakyStarts[1].at;
      expect(gap1).toBeGreaterThanOrEqual(950);
      expect(gap2).toBeGreaterThanOrEqual(1950);
      expect(await progress.find(id)).toMatchObject({ state: 'failed', attempt: 3, message: 'boom 3/3' });
      const metrics = await app.get(MetricsService).scrape();
      expect(metrics).toContain('lethe_jobs_finished_total{queue="test.flaky",outcome="retry"} 2');
      expect(metrics).toContain('lethe_jobs_finished_total{queue="test.flaky",outcome="failed"} 1');
      expect(metrics).toContain('lethe_jobs_enqueued_total{queue="test.flaky"} 1');
    });

    it('runs queued jobs back to back, not one per polling interval', async () => {
      const n = 20;
      const ids: string[] = [];
      for (let i = 0; i < n; i++) ids.push(await queue.enqueueRaw('test.echo', { value: `v${i}` }));
      const t0 = Date.now();
      for (const id of ids) await queue.waitForJob('test.echo', id, { timeoutMs: 30_000, pollMs: 20 });
      // One per 0.5 s poll would take >= 10 s.
      expect(Date.now() - t0).toBeLessThan(8_000);
    });

    it('refuses names outside the catalog', async () => {
      await expect(queue.enqueueRaw('test.nope', {})).rejects.toThrow(/unknown job 'test.nope'/);
    });
  });

  it('refuses to start when a catalog job has no handler', async () => {
    const err = await startApp(db, { catalog: { ...CATALOG, 'test.orphan': {} } }).then(
      async (app) => {
        await app.close();
        return null;
      },
      (e: unknown) => e,
    );
    // A start that fails half way leaves the database open: close what it opened.
    await opened.ds?.destroy();
    await opened.conn?.close();
    expect(err).toBeInstanceOf(JobRegistryError);
    expect((err as JobRegistryError).problems).toEqual(["job 'test.orphan' has no handler"]);
  });

  it('shutdown lets a running job finish within the grace period', async () => {
    seen.slowMode = 'hang';
    const app = await startApp(db, { jobs: { shutdownGraceSeconds: 10 } });
    const queue = app.get(JobQueue);
    const id = await queue.enqueueRaw('test.slow', { ms: 1500 });
    await queue.waitForJob('test.slow', id, { until: (j) => j.state === 'active', timeoutMs: 20_000 });
    const t0 = Date.now();
    await app.close();
    const closeMs = Date.now() - t0;
    expect(closeMs).toBeLessThan(9_000);

    const api = await startApp(db, { role: 'api' });
    try {
      const job = await api.get(JobQueue).getJob('test.slow', id);
      expect(job).toMatchObject({ state: 'completed', output: { sleptMs: 1500 } });
      expect(await api.get(JobProgressRepository).find(id)).toMatchObject({ state: 'completed' });
    } finally {
      await api.close();
    }
  });

  it('shutdown hands back a job that outlives the grace period, without using up its retries', async () => {
    seen.slowMode = 'hang';
    seen.slowAbortReason = null;
    const app = await startApp(db, { jobs: { shutdownGraceSeconds: 1 } });
    const queue = app.get(JobQueue);
    const id = await queue.enqueueRaw('test.slow', { ms: 120_000 });
    await queue.waitForJob('test.slow', id, { until: (j) => j.state === 'active', timeoutMs: 20_000 });
    const t0 = Date.now();
    await app.close();
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(seen.slowAbortReason).toMatchObject({ name: 'JobAbortedError', reason: 'shutdown' });

    // retryLimit 0: a plain failure would be final; the hand-back keeps it runnable.
    const api = await startApp(db, { role: 'api' });
    try {
      expect(await api.get(JobQueue).getJob('test.slow', id)).toMatchObject({ state: 'retry' });
      expect(await api.get(JobProgressRepository).find(id)).toMatchObject({ state: 'retry' });
    } finally {
      await api.close();
    }

    // The next worker picks it up and finishes it.
    seen.slowMode = 'quick';
    const worker = await startApp(db, { role: 'worker' });
    try {
      const done = await worker.get(JobQueue).waitForJob('test.slow', id, { timeoutMs: 20_000 });
      expect(done).toMatchObject({ state: 'completed', output: { sleptMs: 10 } });
    } finally {
      await worker.close();
    }
  });

  it('shutdown hands back a job whose handler ignores its signal', async () => {
    seen.slowMode = 'deaf';
    const app = await startApp(db, { jobs: { shutdownGraceSeconds: 1 } });
    const queue = app.get(JobQueue);
    const id = await queue.enqueueRaw('test.slow', { ms: 5_000 });
    await queue.waitForJob('test.slow', id, { until: (j) => j.state === 'active', timeoutMs: 20_000 });
    const t0 = Date.now();
    await app.close();
    const closeMs = Date.now() - t0;
    // grace 1 s + 2 s for the handler to react, then pg-boss fails it and we re-open it.
    expect(closeMs).toBeGreaterThanOrEqual(2_500);
    expect(closeMs).toBeLessThan(5_000);
    const api = await startApp(db, { role: 'api' });
    try {
      expect(await api.get(JobQueue).getJob('test.slow', id)).toMatchObject({ state: 'retry' });
      expect(await api.get(JobProgressRepository).find(id)).toMatchObject({ state: 'retry', message: 'handed back at shutdown' });
    } finally {
      await api.close();
    }
    await new Promise((r) => setTimeout(r, Math.max(0, 5_500 - (Date.now() - t0)))); // let the deaf run end
  });

  it('the api role enqueues without running; a worker then runs the built-in progress pruning', async () => {
    const catalog = { ...CATALOG, 'jobs.prune-progress': {} };
    const api = await startApp(db, { role: 'api', catalog, builtIns: true });
    let id: string;
    try {
      const ds = api.get(DataSource);
      await ds.query(`INSERT INTO job_progress (job_id, name, state, updated_at) VALUES
        (gen_random_uuid(), 'test.echo', 'completed', now() - interval '30 days'),
        (gen_random_uuid(), 'test.echo', 'failed', now() - interval '20 days'),
        (gen_random_uuid(), 'test.echo', 'retry', now() - interval '30 days'),
        (gen_random_uuid(), 'test.echo', 'completed', now() - interval '1 day')`);
      const queue = api.get(JobQueue);
      expect(queue.status()).toEqual({ started: true, working: false, running: 0 });
      id = await queue.enqueue('jobs.prune-progress', { olderThanDays: 14 });
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await queue.getJob('jobs.prune-progress', id)).toMatchObject({ state: 'created', attempts: 0 });
    } finally {
      await api.close();
    }
    const worker = await startApp(db, { role: 'worker', catalog, builtIns: true });
    try {
      const done = await worker.get(JobQueue).waitForJob('jobs.prune-progress', id, { timeoutMs: 20_000 });
      // The two finished rows older than 14 days; not the unfinished one, not the recent one.
      expect(done).toMatchObject({ state: 'completed', output: { deleted: 2 } });
      const left: { state: string }[] = await worker.get(DataSource).query(
        `SELECT state FROM job_progress WHERE updated_at < now() - interval '14 days' ORDER BY state`,
      );
      expect(left.map((r) => r.state)).toEqual(['retry']);
    } finally {
      await worker.close();
    }
  });
});
