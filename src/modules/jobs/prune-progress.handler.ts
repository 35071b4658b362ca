import { Inject, Injectable } from '@nestjs/common';
import type { JobPayloads } from './job-catalog.js';
import { JobProcessor, type JobContext, type JobHandlerFor } from './job-handler.js';
import { JobProgressRepository } from './job-progress.repository.js';

/** `jobs.prune-progress`: deletes progress rows of jobs that finished long ago. */
@JobProcessor()
@Injectable()
export class PruneProgressHandler implements JobHandlerFor<'jobs.prune-progress', { deleted: number }> {
  readonly name = 'jobs.prune-progress' as const;

  constructor(@Inject(JobProgressRepository) private readonly progress: JobProgressRepository) {}

  async handle(payload: JobPayloads['jobs.prune-progress'], context: JobContext): Promise<{ deleted: number }> {
    const days = payload?.olderThanDays;
    if (typeof days !== 'number' || !Number.isFinite(days) || days < 0) throw new RangeError('olderThanDays must be a number >= 0');
    const deleted = await this.progress.pruneFinished(days);
    await context.progress({ phase: 'done', message: `deleted ${deleted} row(s)` });
    return { deleted };
  }
}
