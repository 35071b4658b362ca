/** Injection token for {@link JobsOptions}. */
export const JOBS_OPTIONS = Symbol('JOBS_OPTIONS');

/** Process-wide job settings (LETHE_JOBS_*); a queue's catalog entry may override the first four. */
export interface JobsOptions {
  /** Retries after the first failure. */
  retryLimit: number;
  /** Base retry delay in seconds; pg-boss doubles it per retry with jitter. */
  retryDelaySeconds: number;
  /** A run is failed and its signal fired after this many seconds. */
  expireInSeconds: number;
  /** Jobs per queue one worker process runs at once. */
  concurrency: number;
  /** On shutdown, running jobs get this long to finish before they are handed back. */
  shutdownGraceSeconds: number;
  /** How often an idle worker polls its queue (pg-boss minimum 0.5). */
  pollIntervalSeconds: number;
  /** Connections in pg-boss's own pool. */
  poolSize: number;
}

export const DEFAULT_JOBS_OPTIONS: JobsOptions = {
  retryLimit: 2,
  retryDelaySeconds: 5,
  expireInSeconds: 900,
  concurrency: 1,
  shutdownGraceSeconds: 30,
  pollIntervalSeconds: 2,
  poolSize: 3,
};
