/**
 * Job recovery after a dead worker, on both databases (issue 12). A "dead worker" is recreated
 * exactly as a SIGKILL leaves it in the database: the job active in pg-boss (fetched by a second
 * pg-boss client that then does nothing) and its job_heartbeat row no longer beaten. The e2e
 * SIGKILL test (test/e2e/jobs-sigkill-recovery.test.ts) kills a real process.
 */
import 'reflect-metadata';
import { Global, Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import PgBoss from 'pg-boss';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigModule } from '../../src/config/config.module.js';
import { DatabaseConnection } from '../../src/modules/database/database-connection.js';
import { DatabaseModule } from '../../src/modules/database/database.module.js';
import type { JobCatalog } from '../../src/modules/jobs/job-catalog.js';
import { JobProcessor, type AbandonedRun, type JobContext, type JobHandler } from '../../src/modules/jobs/job-handler.js';
import { JobProgressRepository } from '../../src/modules/jobs/job-progress.repository.js';
import { JobQueue } from '../../src/modules/jobs/job-queue.service.js';
import { JobRecovery } from '../../src/modules/jobs/job-recovery.service.js';
import { JobsModule } from '../../src/modules/jobs/jobs.module.js';
import type { JobsOptions } from '../../src/modules/jobs/jobs-options.js';
import { MetricsService } from '../../src/modules/metrics/metrics.service.js';
import { createTestDatabase, TEST_BACKENDS, type TestDatabase } from '../support/database.js';

const CATALOG: JobCatalog = { 'test.work': { retryLimit: 2, retryDelaySeconds: 1 }, 'test.hang': { retryLimit: 0 } };

const seen = {
  runs: [] as { jobId: string; attempt: number }[],
  abandoned: [] as (AbandonedRun & { payload: unknown })[],
  hangAbort: null as unknown,
};

@JobProcessor()
@Injectable()
class WorkHandler implements JobHandler<'test.work', { n: number }> {
  readonly name = 'test.work';
  async handle(payload: { n: number }, ctx: JobContext): Promise<{ n: number; attempt: number }> {
    seen.runs.push({ jobId: ctx.jobId, attempt: ctx.attempt });
    return { n: payload.n, attempt: ctx.attempt };
  }
  async onAbandoned(payload: { n: number }, run: AbandonedRun): Promise<void> {
    seen.abandoned.push({ ...run, payload });
  }
}

@JobProcessor()
@Injectable()
class HangHandler implements JobHandler<'test.hang', Record<string, never>> {
  readonly name = 'test.hang';
  async handle(_payload: unknown, ctx: JobContext): Promise<void> {
    await new Promise<void>((_resolve, reject) => {
      ctx.signal.addEventListener('abort', () => {
        seen.hangAbort = ctx.signal.reason;
        reject(ctx.signal.reason);
      });
    });
  }
}

@Global()
@Module({ providers: [MetricsService], exports: [MetricsService] })
class TestMetricsModule {}

async function startApp(db: TestDatabase, role: 'api' | 'worker', jobs: Partial<JobsOptions> = {}): Promise<INestApplicationContext> {
  @Module({
    imports: [
      ConfigModule.forRoot(db.config({ LETHE_ROLE: role })),
      DatabaseModule,
      TestMetricsModule,
      JobsModule.forRoot({ catalog: CATALOG, builtInHandlers: false, options: { pollIntervalSeconds: 0.5, shutdownGraceSeconds: 5, ...jobs } }),
    ],
    providers: [WorkHandler, HangHandler],
  })
  class TestAppModule {}
  return NestFactory.createApplicationContext(TestAppModule, { logger: false, abortOnError: false });
}

const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe.each(TEST_BACKENDS)('job recovery on %s', (backend) => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
  });
  afterAll(async () => {
    await db?.dispose();
  });

  it('a starting worker recovers stale, last-attempt, row-less and previous-incarnation jobs, and leaves a recently beaten one', async () => {
    seen.runs = [];
    seen.abandoned = [];
    // What a SIGKILLed worker leaves behind, built through an api-role app and a second pg-boss client.
    const api = await startApp(db, 'api');
    const ids: Record<'stale' | 'lastAttempt' | 'rowless' | 'previous' | 'recent', string> = {} as never;
    try {
      const queue = api.get(JobQueue);
      ids.stale = await queue.enqueueRaw('test.work', { n: 1 });
      ids.lastAttempt = await queue.enqueueRaw('test.work', { n: 2 }, { retryLimit: 0, subject: 'req-2' });
      ids.rowless = await queue.enqueueRaw('test.work', { n: 3 });
      ids.previous = await queue.enqueueRaw('test.work', { n: 4 });
      ids.recent = await queue.enqueueRaw('test.work', { n: 5 });
      const ghost = new PgBoss({ connectionString: api.get(DatabaseConnection).url, schedule: false, supervise: false, migrate: false, max: 1 });
      await ghost.start();
      try {
        const fetched = await ghost.fetch('test.work', { batchSize: 10 });
        expect(fetched.map((j) => j.id).sort()).toEqual(Object.values(ids).sort());
      } finally {
        await ghost.stop({ graceful: false, wait: true });
      }
      const ds = api.get(DataSource);
      const row = (id: string, worker: string, silentSeconds: number) =>
        ds.query(
          `INSERT INTO job_heartbeat (job_id, name, worker_name, instance, beat_at) VALUES ($1, 'test.work', $2, 'dead-instance', now() - make_interval(secs => $3))`,
          [id, worker, silentSeconds],
        );
      await row(ids.stale, 'other-host', 3600);
      await row(ids.lastAttempt, 'other-host', 3600);
      await ds.query(`UPDATE pgboss.job SET started_on = now() - interval '1 hour' WHERE id = $1`, [ids.rowless]);
      await row(ids.previous, 'me', 6); // this worker's name: two missed heartbeats are enough
      await row(ids.recent, 'other-host', 6); // another worker's, silent for less than staleSeconds
    } finally {
      await api.close();
    }

    const worker = await startApp(db, 'worker', { workerName: 'me', heartbeatSeconds: 1, staleSeconds: 60 });
    try {
      const queue = worker.get(JobQueue);
      for (const key of ['stale', 'rowless', 'previous'] as const) {
        const done = await queue.waitForJob('test.work', ids[key], { timeoutMs: 30_000 });
        expect(done, key).toMatchObject({ state: 'completed', attempts: 2, output: { attempt: 2 } });
      }
      const failed = await queue.waitForJob('test.work', ids.lastAttempt, { timeoutMs: 30_000 });
      expect(failed.state).toBe('failed');
      expect(failed.output).toMatchObject({ message: expect.stringContaining('worker lost') });

      // The handler heard of each lost run before its retry, with the right finality.
      const byJob = new Map(seen.abandoned.map((a) => [a.jobId, a]));
      expect(byJob.get(ids.stale)).toMatchObject({ attempt: 1, maxAttempts: 3, final: false, payload: { n: 1 } });
      expect(byJob.get(ids.lastAttempt)).toMatchObject({ attempt: 1, maxAttempts: 1, final: true, subject: 'req-2' });
      expect(byJob.get(ids.rowless)?.reason).toMatch(/no worker beats it/);
      expect(byJob.get(ids.previous)?.reason).toMatch(/previous process of worker me/);
      expect(byJob.has(ids.recent)).toBe(false);
      expect(seen.runs.some((r) => r.jobId === ids.lastAttempt)).toBe(false);
      expect(await worker.get(JobProgressRepository).find(ids.lastAttempt)).toMatchObject({ state: 'failed', message: expect.stringContaining('worker lost') });

      // Another worker's job beaten 6 s ago is not this worker's to take (staleSeconds 60).
      expect(await queue.getJob('test.work', ids.recent)).toMatchObject({ state: 'active' });
      const metrics = await worker.get(MetricsService).scrape();
      expect(metrics).toContain('lethe_jobs_recovered_total{queue="test.work",outcome="retry"} 3');
      expect(metrics).toContain('lethe_jobs_recovered_total{queue="test.work",outcome="failed"} 1');
      // Finished runs leave no heartbeat rows.
      const left: { jobId: string }[] = await worker.get(DataSource).query(`SELECT job_id AS "jobId" FROM job_heartbeat`);
      expect(left.map((r) => r.jobId)).toEqual([ids.recent]);
    } finally {
      await worker.close();
    }
  });

  it('a worker beats its running job; a run whose job another worker took over stops without touching it', async () => {
    seen.hangAbort = null;
    const worker = await startApp(db, 'worker', { heartbeatSeconds: 0.2, staleSeconds: 60 });
    try {
      const queue = worker.get(JobQueue);
      const ds = worker.get(DataSource);
      const id = await queue.enqueueRaw('test.hang', {});
      await queue.waitForJob('test.hang', id, { until: (j) => j.state === 'active', timeoutMs: 20_000 });
      const beatAt = async (): Promise<number | null> => {
        const rows: { t: Date }[] = await ds.query(`SELECT beat_at AS t FROM job_heartbeat WHERE job_id = $1`, [id]);
        return rows[0] ? new Date(rows[0].t).getTime() : null;
      };
      await until('a heartbeat row', async () => (await beatAt()) !== null);
      const [owner] = await ds.query(`SELECT instance, worker_name AS "workerName" FROM job_heartbeat WHERE job_id = $1`, [id]);
      expect(owner).toEqual({ instance: worker.get(JobRecovery).instance, workerName: expect.any(String) });
      const first = (await beatAt()) as number;
      await until('the next beat', async () => ((await beatAt()) ?? 0) > first);

      // Another worker took the job over (deleted the row): this run must stop at the next beat.
      await ds.query(`DELETE FROM job_heartbeat WHERE job_id = $1`, [id]);
      await until('the run to stop', async () => seen.hangAbort !== null);
      expect(seen.hangAbort).toMatchObject({ name: 'JobAbortedError', reason: 'reaped' });
      // The recovering worker owns the progress row now: the stopped run wrote nothing final.
      await new Promise((r) => setTimeout(r, 300));
      expect(await worker.get(JobProgressRepository).find(id)).toMatchObject({ state: 'active' });
      expect(await worker.get(MetricsService).scrape()).toContain('lethe_jobs_finished_total{queue="test.hang",outcome="reaped"} 1');
    } finally {
      await worker.close();
    }
  });
});
