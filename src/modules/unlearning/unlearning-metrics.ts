import { Inject, Injectable } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service.js';

/**
 * How a request's state ended up: `active` (checks passed), `needs_review` (checks failed; stored
 * inactive), `failed`, and an admin's `review_activated` / `revoked`.
 */
export type UnlearningOutcome = 'active' | 'needs_review' | 'failed' | 'review_activated' | 'revoked';

/** Unlearning outcomes on /metrics (per process: the one whose job or route made the change). */
@Injectable()
export class UnlearningOutcomeMetrics {
  private readonly outcomes: Counter<'outcome'>;
  private readonly failedChecks: Counter<'check'>;

  constructor(@Inject(MetricsService) metrics: MetricsService) {
    this.outcomes = metrics.counter({
      name: 'lethe_unlearning_outcomes_total',
      help: 'Unlearning request outcomes in this process (active, needs_review, failed, review_activated, revoked).',
      labelNames: ['outcome'],
    });
    this.failedChecks = metrics.counter({
      name: 'lethe_unlearning_failed_checks_total',
      help: 'Activation checks failed by unlearning requests in this process, by check.',
      labelNames: ['check'],
    });
    // Zero series from the start, so a dashboard sees `needs_review 0` rather than no data.
    for (const outcome of ['active', 'needs_review', 'failed', 'review_activated', 'revoked'] as const) this.outcomes.inc({ outcome }, 0);
  }

  record(outcome: UnlearningOutcome, failedChecks: readonly string[] = []): void {
    this.outcomes.inc({ outcome });
    for (const check of failedChecks) this.failedChecks.inc({ check });
  }
}
