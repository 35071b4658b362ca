import { DiscoveryService } from '@nestjs/core';
import type { JobName, JobPayloads } from './job-catalog.js';

/** What a handler reports through {@link JobContext.progress}; every field is optional. */
export interface JobProgressUpdate {
  /** Coarse stage, e.g. `tokenize`, `train`, `calibrate`. */
  phase?: string;
  step?: number;
  total?: number;
  /** Latest training loss, when the job trains something. */
  loss?: number;
  /** Seconds left; estimated from step/total and elapsed time when omitted. */
  etaSeconds?: number;
  message?: string;
}

/** Handed to every handler invocation. */
export interface JobContext {
  readonly jobId: string;
  readonly name: string;
  /** What the job is about (e.g. an unlearning request id), as given at enqueue. */
  readonly subject: string | null;
  /** 1 on the first run, 2 on the first retry... */
  readonly attempt: number;
  /** Total runs allowed: retryLimit + 1. */
  readonly maxAttempts: number;
  /**
   * Fires when the job must stop: the shutdown grace period ran out (the job is handed back to
   * the queue), the job's expiry passed, or another worker took the job over because this one
   * stopped heartbeating (reason `reaped`: the run no longer owns the job and must not touch its
   * domain state). Long loops should check it between steps.
   */
  readonly signal: AbortSignal;
  /** Persists progress in job_progress (throttled: at most a few writes per second). */
  progress(update: JobProgressUpdate): Promise<void>;
}

/**
 * One background job's code. The value it resolves to is stored as the job's output (pg-boss),
 * so return an explicit status object; throwing fails the attempt (retried with backoff until
 * retryLimit). Handlers must be idempotent: a job handed back at shutdown runs again.
 */
export interface JobHandler<TName extends string = string, TPayload = unknown, TResult extends object | void = object | void> {
  readonly name: TName;
  handle(payload: TPayload, context: JobContext): Promise<TResult>;
  /**
   * Optional: called when a run of this job was abandoned (its worker died: it stopped beating,
   * or a restart found it), BEFORE the job is failed in the queue, so domain state can follow:
   * back to queued when `final` is false (a retry comes), failed when true. Throwing leaves the
   * job as it is; the next sweep tries again.
   */
  onAbandoned?(payload: TPayload, run: AbandonedRun): Promise<void>;
}

/** What {@link JobHandler.onAbandoned} learns about the lost run. */
export interface AbandonedRun {
  readonly jobId: string;
  readonly subject: string | null;
  /** The attempt that was lost (1 = first run). */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** True when that was the last attempt: the job is failed for good. */
  readonly final: boolean;
  readonly reason: string;
}

/** The handler type for a job of the catalog, with its payload type. */
export type JobHandlerFor<N extends JobName, TResult extends object | void = object | void> = JobHandler<N, JobPayloads[N], TResult>;

/**
 * Marks a provider as a job handler so the registry discovers it. Put the class in any module's
 * providers; the registry checks names against the catalog at start.
 */
export const JobProcessor = DiscoveryService.createDecorator<void>();
