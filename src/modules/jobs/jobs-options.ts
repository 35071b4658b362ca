/** Injection token for {@link JobsOptions}. */
export const JOBS_OPTIONS = Symbol('JOBS_OPTIONS');

/** Process-wide job settings (LETHE_JOBS_*); a queue's catalog entry may override the first four. */
export interface JobsOptions {
  /** Retries after the first failure. */
  retryLimit: number;
  /** Base retry delay in seconds; pg-boss doubles it per retry with jitter. */
  retryDelaySeconds: number;
  /** Expiry of a job type that neither the environment nor its catalog entry sets. */
  expireInSeconds: number;
  /** LETHE_JOBS_EXPIRE_SECONDS: when set, the expiry of every type without its own variable. */
  expireAllSeconds?: number;
  /** LETHE_JOBS_EXPIRE_SECONDS_<TYPE>, by job name: beats everything else. */
  expireSecondsByType: Readonly<Record<string, number>>;
  /** Jobs per queue one worker process runs at once. */
  concurrency: number;
  /** On shutdown, running jobs get this long to finish before they are handed back. */
  shutdownGraceSeconds: number;
  /** How often an idle worker polls its queue (pg-boss minimum 0.5). */
  pollIntervalSeconds: number;
  /** Connections in pg-boss's own pool. */
  poolSize: number;
  /** How often a worker beats its running jobs' job_heartbeat rows and sweeps abandoned jobs. */
  heartbeatSeconds: number;
  /** A job whose row has not been beaten for this long is failed and retried. */
  staleSeconds: number;
  /** Stable across restarts (hostname by default): a restart takes back its previous jobs at once. */
  workerName: string;
}

export const DEFAULT_JOBS_OPTIONS: JobsOptions = {
  retryLimit: 2,
  retryDelaySeconds: 5,
  expireInSeconds: 900,
  expireSecondsByType: {},
  concurrency: 1,
  shutdownGraceSeconds: 30,
  pollIntervalSeconds: 2,
  poolSize: 3,
  heartbeatSeconds: 5,
  staleSeconds: 30,
  workerName: 'worker',
};

/**
 * The expiry of job type `name`, first that is set: its own variable, LETHE_JOBS_EXPIRE_SECONDS,
 * its catalog default, the process default.
 */
export function resolveExpirySeconds(name: string, catalogSeconds: number | undefined, o: Pick<JobsOptions, 'expireInSeconds' | 'expireAllSeconds' | 'expireSecondsByType'>): number {
  return (Object.hasOwn(o.expireSecondsByType, name) ? o.expireSecondsByType[name] : undefined) ?? o.expireAllSeconds ?? catalogSeconds ?? o.expireInSeconds;
}
