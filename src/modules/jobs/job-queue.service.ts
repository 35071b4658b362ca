import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import PgBoss from 'pg-boss';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { DatabaseConnection } from '../database/database-connection.js';
import { runWithLogContext } from '../logging/log-context.js';
import type { JobName, JobPayloads, JobQueueOptions } from './job-catalog.js';
import type { JobContext } from './job-handler.js';
import { JobMetrics, type JobOutcome } from './job-metrics.js';
import { JobProgressRepository } from './job-progress.repository.js';
import { JobProgressTracker } from './job-progress-tracker.js';
import { JobAbortedError, JobRecovery, wasReaped, type ActiveJob, type RecoverableQueue } from './job-recovery.service.js';
import { JobRegistry } from './job-registry.js';
import { JOBS_OPTIONS, resolveExpirySeconds, type JobsOptions } from './jobs-options.js';
import { PgBossDb } from './pg-boss-db.js';

/** What pg-boss stores as a job's data: the handler's payload plus our bookkeeping. */
interface JobEnvelope {
  payload: unknown;
  subject: string | null;
}

export interface EnqueueOptions {
  /** What the job is about (an unlearning request id...), for progress queries by subject. */
  subject?: string;
  /** Overrides the queue's retry limit for this job. */
  retryLimit?: number;
  /** Run no earlier than this many seconds from now. */
  startAfterSeconds?: number;
  priority?: number;
}

export type JobState = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed';
const FINAL_STATES: readonly JobState[] = ['completed', 'failed', 'cancelled'];

/** A job as pg-boss sees it now. */
export interface JobSnapshot {
  id: string;
  name: string;
  state: JobState;
  /** Runs started so far (0 while it never ran). */
  attempts: number;
  retryLimit: number;
  /** The handler's result when completed; the serialised error when failed. */
  output: unknown;
  createdOn: Date;
  startedOn: Date | null;
  completedOn: Date | null;
}

export { JobAbortedError };

interface RunningJob {
  name: string;
  controller: AbortController;
}

// After the grace period the signal fires; cooperative handlers get this long to return before
// pg-boss fails whatever is still running.
const HAND_BACK_SETTLE_MS = 2_000;

/**
 * The queue (pg-boss on our database, the only class that talks to pg-boss). Every role starts
 * it so the API can enqueue; only `worker` and `all` also run handlers and pg-boss maintenance.
 *
 * pg-boss on the embedded PGlite (through the socket multiplexer, see database-connection.ts)
 * works unchanged: its schema install and maintenance use transaction-scoped advisory locks and
 * single multi-statement queries, and its fetch (`FOR UPDATE SKIP LOCKED`) runs in a transaction
 * the multiplexer serialises. Measured on this 2-core machine: start with schema install 154 ms
 * (server 84 ms), send 19 ms per job (server 9 ms). Its pool is small (LETHE_JOBS_POOL_SIZE=3)
 * because every pool shares the socket server's 16 connections.
 */
@Injectable()
export class JobQueue implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Jobs');
  private boss: PgBoss | undefined;
  private db: PgBossDb | undefined;
  private working = false;
  private stopping = false;
  private readonly running = new Map<string, RunningJob>();
  private readonly handedBack = new Map<string, string>();

  constructor(
    @Inject(CONFIG) private readonly config: LetheConfig,
    @Inject(JOBS_OPTIONS) private readonly options: JobsOptions,
    @Inject(DatabaseConnection) private readonly connection: DatabaseConnection,
    @Inject(JobRegistry) private readonly registry: JobRegistry,
    @Inject(JobProgressRepository) private readonly progress: JobProgressRepository,
    @Inject(JobMetrics) private readonly metrics: JobMetrics,
    @Inject(JobRecovery) private readonly recovery: JobRecovery,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /** Whether the queue is started, and whether this process runs handlers. */
  status(): { started: boolean; working: boolean; running: number } {
    return { started: this.boss !== undefined && !this.stopping, working: this.working && !this.stopping, running: this.running.size };
  }

  /** Enqueues a job of the catalog; resolves to its id. */
  enqueue<N extends JobName>(name: N, payload: JobPayloads[N], options: EnqueueOptions = {}): Promise<string> {
    return this.enqueueRaw(name, payload, options);
  }

  /** Untyped enqueue for names outside the static catalog (tests with their own catalog). */
  async enqueueRaw(name: string, payload: unknown, options: EnqueueOptions = {}): Promise<string> {
    const boss = this.requireBoss();
    if (!this.registry.has(name)) throw new Error(`unknown job '${name}'`);
    const id = randomUUID();
    const envelope: JobEnvelope = { payload, subject: options.subject ?? null };
    const sent = await boss.send(name, envelope, {
      id,
      ...(options.retryLimit !== undefined && { retryLimit: options.retryLimit }),
      ...(options.startAfterSeconds !== undefined && { startAfter: options.startAfterSeconds }),
      ...(options.priority !== undefined && { priority: options.priority }),
    });
    if (sent === null) throw new Error(`pg-boss refused job '${name}'`);
    await this.progress.insertQueued(id, name, envelope.subject);
    this.metrics.onEnqueued(name);
    return id;
  }

  /** The job as pg-boss sees it now (archived jobs included), or null. */
  async getJob(name: string, id: string): Promise<JobSnapshot | null> {
    const job = await this.requireBoss().getJobById<JobEnvelope>(name, id, { includeArchive: true });
    if (!job) return null;
    const started = job.startedOn !== null && job.startedOn !== undefined;
    return {
      id: job.id,
      name: job.name,
      state: job.state,
      attempts: started ? job.retryCount + 1 : 0,
      retryLimit: job.retryLimit,
      output: job.output ?? null,
      createdOn: job.createdOn,
      startedOn: job.startedOn ?? null,
      completedOn: job.completedOn ?? null,
    };
  }

  /**
   * Polls until the job is completed, failed or cancelled (or `until` says stop) and returns it.
   * For tests and scripts that run a worker in-process (role `all`).
   */
  async waitForJob(
    name: string,
    id: string,
    opts: { timeoutMs?: number; pollMs?: number; until?: (job: JobSnapshot) => boolean } = {},
  ): Promise<JobSnapshot> {
    const { timeoutMs = 60_000, pollMs = 100 } = opts;
    const until = opts.until ?? ((job: JobSnapshot) => FINAL_STATES.includes(job.state));
    const deadline = Date.now() + timeoutMs;
    let last: JobSnapshot | null = null;
    for (;;) {
      last = await this.getJob(name, id);
      if (last && until(last)) return last;
      if (Date.now() > deadline) throw new Error(`job ${name}/${id} still ${last?.state ?? 'missing'} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Starts pg-boss (creating its schema on first use), the queues, and in worker roles the workers. */
  async start(): Promise<void> {
    if (this.boss) return;
    const runsWorker = this.config.runsWorker;
    this.db = new PgBossDb(this.connection.url, this.options.poolSize, (e) => this.logger.warn(`pg-boss pool: ${e.message}`));
    // PgBoss.Db's type omits the `undefined` pg-boss itself answers after close (see PgBossDb).
    const boss = new PgBoss({ db: this.db as PgBoss.Db, schedule: false, supervise: runsWorker, migrate: true });
    boss.on('error', (e: Error) => this.logger.error(`pg-boss: ${e.message}`, e.stack));
    await boss.start();
    for (const job of this.registry.all()) {
      const queue = this.queueOptions(job.name, job.options);
      // createQueue leaves an existing queue as it is; updateQueue applies changed settings.
      await boss.createQueue(job.name, queue);
      await boss.updateQueue(job.name, queue);
    }
    this.boss = boss;
    if (runsWorker) {
      for (const job of this.registry.all()) {
        const concurrency = job.options.concurrency ?? this.options.concurrency;
        for (let i = 0; i < concurrency; i++) {
          // pg-boss waits a full polling interval after every fetch, even when more jobs wait
          // (200 queued jobs took 100 s at 0.5 s polling). Notifying the worker when a job ends
          // makes it fetch again at once; an empty queue still waits the interval.
          let workerId: string | undefined;
          workerId = await boss.work<JobEnvelope>(
            job.name,
            { batchSize: 1, includeMetadata: true, pollingIntervalSeconds: this.options.pollIntervalSeconds },
            ([j]) =>
              this.run(j).finally(() => {
                if (workerId !== undefined && !this.stopping) boss.notifyWorker(workerId);
              }),
          );
        }
      }
      this.working = true;
      this.recovery.start(this.recoverable(boss));
    }
    this.logger.log(`queue started (${this.registry.all().length} job types, ${runsWorker ? 'running handlers' : 'enqueue only'})`);
  }

  /**
   * Graceful stop: workers stop fetching; running jobs get shutdownGraceSeconds to finish; then
   * their signal fires and pg-boss fails what still runs, which returns it to the queue. A job
   * that this made fail for good (its last attempt) is re-opened: shutdown never uses up retries.
   */
  async stop(): Promise<void> {
    const boss = this.boss;
    if (!boss || this.stopping) return;
    this.stopping = true;
    // Running jobs keep beating through the grace period; only the sweep of others' jobs stops.
    this.recovery.stopSweeping();
    const graceMs = this.options.shutdownGraceSeconds * 1000;
    if (this.running.size > 0) this.logger.log(`stopping: ${this.running.size} running job(s) get ${graceMs} ms to finish`);
    const timer = setTimeout(() => {
      for (const [id, job] of this.running) {
        this.handedBack.set(id, job.name);
        job.controller.abort(new JobAbortedError('shutdown'));
      }
    }, graceMs);
    try {
      await boss.stop({ graceful: true, wait: true, close: false, timeout: graceMs + HAND_BACK_SETTLE_MS });
    } finally {
      clearTimeout(timer);
    }
    // Handlers deaf to their signal are still running: pg-boss has failed their jobs by now.
    for (const [id, name] of this.handedBack) {
      if (!this.running.has(id)) continue;
      await this.handBack(boss, name, id, 'did not stop within the grace period');
      await this.progress
        .write({ jobId: id, name, subject: null, state: 'retry', message: 'handed back at shutdown' })
        .catch((e: Error) => this.logger.warn(`progress: ${e.message}`));
    }
    await this.recovery.stop();
    await this.db?.close();
    this.working = false;
  }

  /**
   * Returns a job to the queue: fails it (pg-boss moves it to retry, or to failed on its last
   * attempt) and re-opens it when that failure was final. Awaited, so the state is settled before
   * pg-boss's own (unawaited) fail of the same job, which then changes nothing that matters.
   */
  private async handBack(boss: PgBoss, name: string, id: string, why: string): Promise<void> {
    try {
      const job = await boss.getJobById(name, id);
      if (job?.state === 'active') await boss.fail(name, id, { message: `handed back at shutdown: ${why}` });
      if ((await boss.getJobById(name, id))?.state === 'failed') await boss.retry(name, id);
      this.logger.warn(`job ${name}/${id} handed back at shutdown (${why})`);
    } catch (e) {
      this.logger.error(`could not hand back job ${name}/${id}: ${(e as Error).message}`);
    }
  }

  private queueOptions(name: string, o: JobQueueOptions): PgBoss.Queue {
    return {
      name,
      retryLimit: o.retryLimit ?? this.options.retryLimit,
      retryDelay: o.retryDelaySeconds ?? this.options.retryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: resolveExpirySeconds(name, o.expireInSeconds, this.options),
    };
  }

  /** The narrow pg-boss access the recovery sweep needs. */
  private recoverable(boss: PgBoss): RecoverableQueue {
    const names = this.registry.all().map((j) => j.name);
    return {
      activeJob: async (name, id): Promise<ActiveJob | null> => {
        const job = await boss.getJobById<JobEnvelope>(name, id);
        if (job?.state !== 'active') return null;
        return { payload: job.data?.payload, subject: job.data?.subject ?? null, attempt: job.retryCount + 1, maxAttempts: job.retryLimit + 1 };
      },
      failAbandoned: async (name, id, reason) => {
        await boss.fail(name, id, { message: reason });
      },
      activeStartedBefore: async (seconds) => {
        // pg-boss has no API for this; its job table (schema pgboss) is stable within v10.
        const res = await this.db?.executeSql(
          `SELECT id::text AS id, name FROM pgboss.job WHERE state = 'active' AND name = ANY($1::text[]) AND started_on < now() - make_interval(secs => $2)`,
          [names, seconds],
        );
        return (res?.rows ?? []) as { id: string; name: string }[];
      },
    };
  }

  private requireBoss(): PgBoss {
    if (!this.boss || this.stopping) throw new Error('the job queue is not running');
    return this.boss;
  }

  /** One run of one job: context, progress rows, metrics, log context, outcome. */
  private async run(job: PgBoss.JobWithMetadata<JobEnvelope>): Promise<object | undefined> {
    const { handler } = this.registry.get(job.name);
    const subject = job.data?.subject ?? null;
    const attempt = job.retryCount + 1;
    const maxAttempts = job.retryLimit + 1;
    const controller = new AbortController();
    this.running.set(job.id, { name: job.name, controller });
    const expiry = setTimeout(() => controller.abort(new JobAbortedError('expired')), job.expireInSeconds * 1000);
    expiry.unref();
    const tracker = new JobProgressTracker({ jobId: job.id, name: job.name, subject, attempt }, (w) => this.progress.write(w));
    const started = performance.now();
    let outcome: JobOutcome = 'failed';
    this.metrics.onStarted(job.name);
    try {
      await this.recovery.claim(job.id, job.name, controller);
      await tracker.start();
      const context: JobContext = {
        jobId: job.id,
        name: job.name,
        subject,
        attempt,
        maxAttempts,
        signal: controller.signal,
        progress: (update) => tracker.update(update),
      };
      const result = await runWithLogContext({ jobId: job.id, jobName: job.name }, () => handler.handle(job.data?.payload, context));
      // Taken over meanwhile: completing would mark the retry (maybe running elsewhere) completed.
      if (wasReaped(controller.signal)) throw controller.signal.reason;
      await tracker.finish('completed');
      outcome = 'completed';
      return result ?? undefined;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (wasReaped(controller.signal)) {
        // Another worker recovered the job (progress row and domain state included): touch nothing.
        // pg-boss still fails this id (it cannot fence by worker): at worst the retry is rescheduled.
        outcome = 'reaped';
        this.logger.warn(`job ${job.name}/${job.id} attempt ${attempt}/${maxAttempts} stopped: ${message}`);
        throw error;
      }
      outcome = this.handedBack.has(job.id) ? 'handed_back' : attempt < maxAttempts ? 'retry' : 'failed';
      const note = outcome === 'handed_back' ? `handed back at shutdown: ${message}` : message;
      if (outcome === 'handed_back' && this.boss) await this.handBack(this.boss, job.name, job.id, message);
      await tracker.finish(outcome === 'failed' ? 'failed' : 'retry', note).catch((e: Error) => this.logger.warn(`progress: ${e.message}`));
      const log = `job ${job.name}/${job.id} attempt ${attempt}/${maxAttempts} ${outcome}: ${message}`;
      if (outcome === 'failed') this.logger.error(log, error instanceof Error ? error.stack : undefined);
      else this.logger.warn(log);
      throw error;
    } finally {
      clearTimeout(expiry);
      this.running.delete(job.id);
      await this.recovery.release(job.id).catch((e: Error) => this.logger.warn(`heartbeat release: ${e.message}`));
      this.metrics.onFinished(job.name, outcome, (performance.now() - started) / 1000);
    }
  }
}
