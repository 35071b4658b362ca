import type { JobProgressUpdate } from './job-handler.js';
import type { JobProgressState, JobProgressWrite } from './job-progress.repository.js';

/** Seconds left from the rate so far: elapsed / step * (total - step); undefined before step 1. */
export function estimateEtaSeconds(elapsedMs: number, step: number | undefined, total: number | undefined): number | undefined {
  if (step === undefined || total === undefined || step <= 0 || total < step) return undefined;
  return ((elapsedMs / 1000) * (total - step)) / step;
}

/**
 * Keeps one job's progress and writes it through `write`, at most once per `minIntervalMs` for
 * plain updates (a training loop may report every step); state changes and phase changes are
 * written at once. The latest values are never lost: `finish` writes them with the final state.
 */
export class JobProgressTracker {
  private latest: JobProgressUpdate = {};
  private lastWriteAt = 0;
  private readonly startedAt: number;

  constructor(
    private readonly identity: Pick<JobProgressWrite, 'jobId' | 'name' | 'subject'> & { attempt: number },
    private readonly write: (w: JobProgressWrite) => Promise<void>,
    private readonly minIntervalMs = 250,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
  }

  async start(): Promise<void> {
    await this.flush('active', { message: undefined });
  }

  /** Validates and records an update; writes it unless the last write was too recent. */
  async update(update: JobProgressUpdate): Promise<void> {
    for (const key of ['step', 'total', 'loss', 'etaSeconds'] as const) {
      const v = update[key];
      if (v !== undefined && !Number.isFinite(v)) throw new RangeError(`progress.${key} must be a finite number, got ${v}`);
    }
    const phaseChanged = update.phase !== undefined && update.phase !== this.latest.phase;
    this.latest = { ...this.latest, ...stripUndefined(update) };
    if (phaseChanged || this.now() - this.lastWriteAt >= this.minIntervalMs) await this.flush('active');
  }

  /** Writes the final state with the latest progress. */
  async finish(state: JobProgressState, message?: string): Promise<void> {
    await this.flush(state, message === undefined ? {} : { message });
  }

  private async flush(state: JobProgressState, extra: JobProgressUpdate = {}): Promise<void> {
    const values = { ...this.latest, ...extra };
    const etaSeconds =
      state === 'active'
        ? (values.etaSeconds ?? estimateEtaSeconds(this.now() - this.startedAt, values.step, values.total))
        : undefined;
    this.lastWriteAt = this.now();
    await this.write({ ...this.identity, ...values, etaSeconds, state });
  }
}

function stripUndefined(u: JobProgressUpdate): JobProgressUpdate {
  return Object.fromEntries(Object.entries(u).filter(([, v]) => v !== undefined)) as JobProgressUpdate;
}
