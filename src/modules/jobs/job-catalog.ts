import type { GeneratorTrainPayload } from '../generator/generator-jobs.js';
import type { TaskTrainPayload } from '../tasks/task-jobs.js';

/**
 * Every background job Lethe knows, in one place: its payload type (JobPayloads) and its queue
 * options (JOB_CATALOG). To add a job: add `'area.verb': Payload` to JobPayloads, an entry to
 * JOB_CATALOG (TypeScript refuses a catalog that misses a payload's name or has an extra one), and
 * one `@JobProcessor()` provider implementing `JobHandlerFor<'area.verb'>`. The app refuses to
 * start unless every catalog name has exactly one handler.
 */
export interface JobPayloads {
  /** Deletes progress rows of finished jobs older than `olderThanDays`. */
  'jobs.prune-progress': { olderThanDays: number };
  /** Trains a task's LoRA and keeps its checkpoint set (modules/tasks). */
  'tasks.train': TaskTrainPayload;
  /** Trains a new ICM-LoRA generator version over every trained task (modules/generator). */
  'generator.train': GeneratorTrainPayload;
  /** Trains, calibrates, checks and activates one unlearning request (modules/unlearning). */
  'unlearning.train': { requestId: string };
}

export type JobName = keyof JobPayloads & string;

/** Per-queue options; anything unset takes the LETHE_JOBS_* defaults. */
export interface JobQueueOptions {
  /** Retries after the first failure (0 = run once). */
  retryLimit?: number;
  /** Base delay before a retry, in seconds; doubled per retry with jitter (exponential backoff). */
  retryDelaySeconds?: number;
  /**
   * Default expiry: a running job is failed (and its AbortSignal fired) after this many seconds.
   * LETHE_JOBS_EXPIRE_SECONDS_<TYPE>, then LETHE_JOBS_EXPIRE_SECONDS, override it. A crashed
   * worker's job does not wait for it: the heartbeat sweep recovers it (job-recovery.service.ts).
   */
  expireInSeconds?: number;
  /** Jobs of this queue one worker process runs at the same time. */
  concurrency?: number;
}

/** Queue options by job name, as the registry validates them at start. */
export type JobCatalog = Readonly<Record<string, JobQueueOptions>>;

export const JOB_CATALOG: { readonly [N in JobName]: JobQueueOptions } = {
  'jobs.prune-progress': { retryLimit: 1, expireInSeconds: 300 },
  'tasks.train': { retryLimit: 1, expireInSeconds: 3600, concurrency: 1 },
  'generator.train': { retryLimit: 1, expireInSeconds: 3600, concurrency: 1 },
  'unlearning.train': { retryLimit: 2, retryDelaySeconds: 1, expireInSeconds: 1800, concurrency: 1 },
};
