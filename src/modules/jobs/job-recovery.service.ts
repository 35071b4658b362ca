import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { JobHeartbeatRepository } from './job-heartbeat.repository.js';
import { JobMetrics } from './job-metrics.js';
import { JobProgressRepository } from './job-progress.repository.js';
import { JobRegistry } from './job-registry.js';
import { JOBS_OPTIONS, type JobsOptions } from './jobs-options.js';

/** Raised into a handler's signal; `reason` says why the job must stop. */
export class JobAbortedError extends Error {
  constructor(readonly reason: 'shutdown' | 'expired' | 'reaped') {
    super(
      reason === 'shutdown'
        ? 'handed back: the worker is shutting down'
        : reason === 'expired'
          ? 'the job ran past its expiry'
          : 'taken over: this worker missed its heartbeats and another one recovered the job',
    );
    this.name = 'JobAbortedError';
  }
}

/** True when `signal` fired because the run lost its job to the recovery sweep. */
export function wasReaped(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof JobAbortedError && signal.reason.reason === 'reaped';
}

/** An active job as the queue holds it. */
export interface ActiveJob {
  payload: unknown;
  subject: string | null;
  attempt: number;
  maxAttempts: number;
}

/** What recovery needs from the queue (JobQueue is the only class that talks to pg-boss). */
export interface RecoverableQueue {
  /** The job when the queue has it active, else null. */
  activeJob(name: string, id: string): Promise<ActiveJob | null>;
  /** Fails an active job so its retry policy applies (retry, or failed on its last attempt). */
  failAbandoned(name: string, id: string, reason: string): Promise<void>;
  /** Jobs active for more than `seconds` (started by any worker). */
  activeStartedBefore(seconds: number): Promise<{ id: string; name: string }[]>;
}

interface OwnedJob {
  name: string;
  controller: AbortController;
}

/**
 * Job recovery after a crashed worker (issue 12). Every worker process beats the job_heartbeat row
 * of each job it runs every LETHE_JOBS_HEARTBEAT_SECONDS and, on the same tick, sweeps for jobs
 * whose worker went silent: silent for LETHE_JOBS_STALE_SECONDS, or silent for two heartbeats and
 * owned by an earlier process with this worker's name (a restart), or active in the queue with no
 * row at all (a crash between fetch and claim). Such a job is taken (one sweeper wins: the row is
 * deleted conditionally), its handler's onAbandoned moves domain state back (or to failed on the
 * last attempt), then it is failed in pg-boss so the queue's retry policy applies. A worker that
 * finds its own row taken aborts the run (`reaped`): it no longer owns the job.
 */
@Injectable()
export class JobRecovery {
  /** This process, as opposed to `options.workerName`, which a restart keeps. */
  readonly instance = randomUUID();
  private readonly logger = new Logger('JobRecovery');
  private readonly owned = new Map<string, OwnedJob>();
  private queue: RecoverableQueue | undefined;
  private timer: NodeJS.Timeout | undefined;
  private tick: Promise<void> | undefined;
  private sweeping = false;

  constructor(
    @Inject(JOBS_OPTIONS) private readonly options: JobsOptions,
    @Inject(JobHeartbeatRepository) private readonly heartbeats: JobHeartbeatRepository,
    @Inject(JobRegistry) private readonly registry: JobRegistry,
    @Inject(JobProgressRepository) private readonly progress: JobProgressRepository,
    @Inject(JobMetrics) private readonly metrics: JobMetrics,
  ) {}

  /** Starts beating and sweeping (worker roles); the first sweep runs at once. */
  start(queue: RecoverableQueue): void {
    if (this.timer) return;
    this.queue = queue;
    this.sweeping = true;
    this.runTick();
    this.timer = setInterval(() => this.runTick(), this.options.heartbeatSeconds * 1000);
    this.timer.unref();
  }

  /** Stops sweeping other workers' jobs; beats go on until {@link stop} (running jobs finish). */
  stopSweeping(): void {
    this.sweeping = false;
  }

  /** Stops the timer after the tick in flight (JobQueue stops sweeping earlier, at shutdown's start). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.tick;
    this.sweeping = false;
  }

  /** This process runs `jobId` now; `controller` is aborted if another worker takes it over. */
  async claim(jobId: string, name: string, controller: AbortController): Promise<void> {
    await this.heartbeats.claim(jobId, name, this.options.workerName, this.instance);
    this.owned.set(jobId, { name, controller });
  }

  /** The run ended here. */
  async release(jobId: string): Promise<void> {
    if (!this.owned.delete(jobId)) return;
    await this.heartbeats.release(jobId, this.instance);
  }

  /** One beat and one sweep, now (tests; the timer calls the same). */
  async runOnce(): Promise<void> {
    await this.beat();
    if (this.sweeping) await this.sweep();
  }

  private runTick(): void {
    if (this.tick) return; // the previous tick is still running (a slow database): skip this one
    this.tick = this.runOnce()
      .catch((e: Error) => this.logger.warn(`heartbeat/sweep: ${e.message}`))
      .finally(() => {
        this.tick = undefined;
      });
  }

  private async beat(): Promise<void> {
    const ids = [...this.owned.keys()];
    if (ids.length === 0) return;
    const alive = new Set(await this.heartbeats.beat(this.instance, ids));
    for (const id of ids) {
      const job = this.owned.get(id);
      if (!job || alive.has(id)) continue; // released meanwhile, or still ours
      this.owned.delete(id);
      this.logger.error(`job ${job.name}/${id} was taken over by another worker (this one missed its heartbeats): stopping the run`);
      job.controller.abort(new JobAbortedError('reaped'));
    }
  }

  private async sweep(): Promise<void> {
    const queue = this.queue;
    if (!queue) return;
    const { staleSeconds, heartbeatSeconds, workerName } = this.options;
    const restartSeconds = 2 * heartbeatSeconds;
    for (const row of await this.heartbeats.findAbandoned({ instance: this.instance, workerName, staleSeconds, restartSeconds })) {
      const previous = row.workerName === workerName;
      if (!(await this.heartbeats.take(row.jobId, row.instance, previous ? restartSeconds : staleSeconds))) continue;
      const why = previous
        ? `a previous process of worker ${workerName} ran it and has been silent for ${row.silentSeconds.toFixed(1)} s`
        : `its worker ${row.workerName} has been silent for ${row.silentSeconds.toFixed(1)} s`;
      await this.recover(queue, row.name, row.jobId, why);
    }
    // Active with no row at all: the worker died between fetching the job and claiming it.
    const active = await queue.activeStartedBefore(staleSeconds);
    const beaten = await this.heartbeats.withRows(active.map((j) => j.id));
    for (const job of active) {
      if (beaten.has(job.id) || this.owned.has(job.id)) continue;
      await this.recover(queue, job.name, job.id, `active for over ${staleSeconds} s and no worker beats it`);
    }
  }

  private async recover(queue: RecoverableQueue, name: string, id: string, why: string): Promise<void> {
    try {
      const job = await queue.activeJob(name, id);
      if (!job) return; // it ended (or was failed) meanwhile: nothing to recover
      const final = job.attempt >= job.maxAttempts;
      const reason = `worker lost: ${why}`;
      const handler = this.registry.has(name) ? this.registry.get(name).handler : undefined;
      // Domain state first, while the job is still active and nobody can start its retry.
      await handler?.onAbandoned?.(job.payload, { jobId: id, subject: job.subject, attempt: job.attempt, maxAttempts: job.maxAttempts, final, reason });
      await queue.failAbandoned(name, id, reason);
      this.metrics.onRecovered(name, final);
      await this.progress
        .write({ jobId: id, name, subject: job.subject, state: final ? 'failed' : 'retry', message: reason })
        .catch((e: Error) => this.logger.warn(`progress: ${e.message}`));
      this.logger.warn(`recovered job ${name}/${id} (attempt ${job.attempt}/${job.maxAttempts}, ${final ? 'failed for good' : 'will be retried'}): ${why}`);
    } catch (e) {
      // The row is gone: the orphan sweep (active, no row) tries again after staleSeconds.
      this.logger.error(`could not recover job ${name}/${id}: ${(e as Error).message}`);
    }
  }
}
