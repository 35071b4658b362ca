import { Global, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { JOB_CATALOG, type JobCatalog } from './job-catalog.js';
import { JobMetrics } from './job-metrics.js';
import { JobHeartbeatRepository } from './job-heartbeat.repository.js';
import { JobProgressRepository } from './job-progress.repository.js';
import { JobQueue } from './job-queue.service.js';
import { JobRecovery } from './job-recovery.service.js';
import { JOB_CATALOG_TOKEN, JobRegistry } from './job-registry.js';
import { DEFAULT_JOBS_OPTIONS, JOBS_OPTIONS, type JobsOptions } from './jobs-options.js';
import { PruneProgressHandler } from './prune-progress.handler.js';

export interface JobsModuleOptions {
  /** The catalog to check handlers against (default: JOB_CATALOG). Tests pass their own. */
  catalog?: JobCatalog;
  /** Overrides of the LETHE_JOBS_* settings. */
  options?: Partial<JobsOptions>;
  /** Include the built-in handlers (default true; a test catalog without their names sets false). */
  builtInHandlers?: boolean;
}

/**
 * Background jobs: the JobQueue (pg-boss), the checked JobRegistry, progress rows and job
 * metrics. Global so any module can inject JobQueue; needs Config, Database and Metrics modules.
 */
@Global()
@Module({})
export class JobsModule {
  static forRoot(opts: JobsModuleOptions = {}): DynamicModule {
    const providers: Provider[] = [
      { provide: JOB_CATALOG_TOKEN, useValue: opts.catalog ?? JOB_CATALOG },
      {
        provide: JOBS_OPTIONS,
        inject: [CONFIG],
        useFactory: (config: LetheConfig): JobsOptions => ({ ...jobsOptionsFrom(config), ...opts.options }),
      },
      JobRegistry,
      JobProgressRepository,
      JobMetrics,
      JobHeartbeatRepository,
      JobRecovery,
      JobQueue,
      ...(opts.builtInHandlers === false ? [] : [PruneProgressHandler]),
    ];
    return { module: JobsModule, imports: [DiscoveryModule], providers, exports: [JobQueue, JobRegistry, JobProgressRepository] };
  }
}

/** LETHE_JOBS_* (and LETHE_WORKER_NAME) from the validated config. */
export function jobsOptionsFrom(config: LetheConfig): JobsOptions {
  const { expireAllSeconds, ...rest } = config.jobs;
  return { ...DEFAULT_JOBS_OPTIONS, ...rest, ...(expireAllSeconds !== undefined && { expireAllSeconds }) };
}
