import { Inject, Injectable } from '@nestjs/common';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service.js';

/**
 * How one run of a job ended. `handed_back`: stopped by shutdown and returned to the queue;
 * `reaped`: stopped because another worker recovered the job after this one missed its heartbeats.
 */
export type JobOutcome = 'completed' | 'retry' | 'failed' | 'handed_back' | 'reaped';

/** Job counters on /metrics, by queue. */
@Injectable()
export class JobMetrics {
  private readonly enqueued: Counter<'queue'>;
  private readonly finished: Counter<'queue' | 'outcome'>;
  private readonly duration: Histogram<'queue' | 'outcome'>;
  private readonly running: Gauge<'queue'>;
  private readonly recovered: Counter<'queue' | 'outcome'>;

  constructor(@Inject(MetricsService) metrics: MetricsService) {
    this.enqueued = metrics.counter({ name: 'lethe_jobs_enqueued_total', help: 'Jobs enqueued by this process.', labelNames: ['queue'] });
    this.finished = metrics.counter({
      name: 'lethe_jobs_finished_total',
      help: 'Job runs that ended in this process, by outcome (completed, retry, failed, handed_back).',
      labelNames: ['queue', 'outcome'],
    });
    this.duration = metrics.histogram({
      name: 'lethe_job_duration_seconds',
      help: 'Duration of job runs in this process, by outcome.',
      labelNames: ['queue', 'outcome'],
      buckets: [0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900],
    });
    this.recovered = metrics.counter({
      name: 'lethe_jobs_recovered_total',
      help: 'Jobs of dead workers this process recovered (failed in the queue), by outcome (retry, failed).',
      labelNames: ['queue', 'outcome'],
    });
    this.running = metrics.gauge({ name: 'lethe_jobs_running', help: 'Jobs running now in this process.', labelNames: ['queue'] });
  }

  onEnqueued(queue: string): void {
    this.enqueued.inc({ queue });
  }

  onStarted(queue: string): void {
    this.running.inc({ queue });
  }

  onRecovered(queue: string, final: boolean): void {
    this.recovered.inc({ queue, outcome: final ? 'failed' : 'retry' });
  }

  onFinished(queue: string, outcome: JobOutcome, seconds: number): void {
    this.running.dec({ queue });
    this.finished.inc({ queue, outcome });
    this.duration.observe({ queue, outcome }, seconds);
  }
}
