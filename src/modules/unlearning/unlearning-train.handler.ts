import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { UnlearningProgress, UnlearningResult } from '../../unlearning/unlearning-types.js';
import { AdapterRegistryService } from '../adapters/adapter-registry.service.js';
import { AuditService } from '../audit/audit.service.js';
import { JobProcessor, type AbandonedRun, type JobContext, type JobHandlerFor } from '../jobs/job-handler.js';
import { wasReaped } from '../jobs/job-recovery.service.js';
import { FINAL_UNLEARNING_STATUSES, type UnlearningRequestEntity, type UnlearningStatus } from './unlearning-request.entity.js';
import { UnlearningOutcomeMetrics } from './unlearning-metrics.js';
import { UnlearningRepository } from './unlearning.repository.js';
import { UnlearningRunner, type ReferenceSetCounts } from './unlearning-runner.service.js';
import { requestSubject, UNLEARNING_JOB, UnlearningService } from './unlearning.service.js';

const PHASE_STATUS: Record<UnlearningProgress['phase'], UnlearningStatus> = {
  relabel: 'training',
  training: 'training',
  calibrating: 'calibrating',
  evaluating: 'evaluating',
};
/** Progress rows are written at most this often (phase changes always). */
const PROGRESS_INTERVAL_MS = 400;

export interface UnlearningJobResult {
  requestId: string;
  outcome: 'activated' | 'needs_review' | 'skipped';
  adapterId?: string;
  detectorId?: string;
  status?: UnlearningStatus;
}

/**
 * The `unlearning.train` job: loads the active unlearning adapters, runs the pipeline in a worker
 * thread, then stores the adapter (blob + row), its detector and the metrics and activates them in
 * ONE transaction, so a crash at any point leaves nothing of the request active. A request whose
 * activation checks fail (metrics.activation) is stored the same way but inactive, as
 * `needs_review`, for an admin to activate or revoke. Idempotent: a retry of a request already
 * active, needs_review or revoked does nothing.
 */
@Injectable()
@JobProcessor()
export class UnlearningTrainHandler implements JobHandlerFor<typeof UNLEARNING_JOB, UnlearningJobResult> {
  readonly name = UNLEARNING_JOB;
  private readonly log = new Logger('UnlearningJob');

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(UnlearningRepository) private readonly repo: UnlearningRepository,
    @Inject(AdapterRegistryService) private readonly registry: AdapterRegistryService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(UnlearningRunner) private readonly runner: UnlearningRunner,
    @Inject(UnlearningService) private readonly service: UnlearningService,
    @Inject(UnlearningOutcomeMetrics) private readonly outcomes: UnlearningOutcomeMetrics,
  ) {}

  async handle(payload: { requestId: string }, ctx: JobContext): Promise<UnlearningJobResult> {
    const id = payload.requestId;
    const row = await this.repo.findById(id);
    if (!row || FINAL_UNLEARNING_STATUSES.includes(row.status)) return { requestId: id, outcome: 'skipped', status: row?.status };
    if (!row.items) {
      await this.service.fail(id, row.actor, 'the raw items are gone; the request cannot be trained again');
      return { requestId: id, outcome: 'skipped', status: 'failed' };
    }
    try {
      const { result, references } = await this.train(row, ctx);
      return await this.store(row, result, references, ctx.attempt);
    } catch (error) {
      // Another worker recovered this job (this one missed its heartbeats): the request is its now.
      if (wasReaped(ctx.signal)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      if (ctx.attempt >= ctx.maxAttempts) {
        await this.service.fail(id, row.actor, `failed after ${ctx.attempt} attempt(s): ${reason}`);
      } else {
        await this.transition(row, 'queued', 'unlearning.retry', { attempt: ctx.attempt, reason }, { phase: 'retry', attempt: ctx.attempt, message: reason }, reason);
      }
      throw error;
    }
  }

  /**
   * The run's worker died (job recovery, before the job is failed in the queue): the request
   * follows the job, back to queued for the retry, or failed after the last attempt. Nothing of
   * the lost run was stored: activation is one transaction.
   */
  async onAbandoned(payload: { requestId: string }, run: AbandonedRun): Promise<void> {
    const row = await this.repo.findById(payload.requestId);
    if (!row || FINAL_UNLEARNING_STATUSES.includes(row.status)) return;
    if (run.final) {
      await this.service.fail(row.id, row.actor, `failed after ${run.attempt} attempt(s): ${run.reason}`);
    } else {
      const details = { attempt: run.attempt, reason: run.reason, jobId: run.jobId };
      await this.transition(row, 'queued', 'unlearning.retry', details, { phase: 'retry', attempt: run.attempt, message: run.reason }, run.reason);
    }
  }

  private async train(row: UnlearningRequestEntity, ctx: JobContext): Promise<{ result: UnlearningResult; references: ReferenceSetCounts }> {
    await this.repo.update(row.id, { attempts: ctx.attempt });
    await this.transition(row, 'training', 'unlearning.start', { attempt: ctx.attempt, jobId: ctx.jobId }, { phase: 'relabel', attempt: ctx.attempt }, null);
    const active = await this.repo.activeUnlearning();
    const frozenAdapters = await Promise.all(
      active.map(async ({ adapter, detector }) => ({
        id: adapter.id,
        config: { peft_type: 'LORA', task_type: 'CAUSAL_LM', bias: 'none', r: adapter.rank, lora_alpha: adapter.alpha, target_modules: adapter.targetModules },
        weights: new Uint8Array(await this.registry.readWeights(adapter.id)),
        detector: new Uint8Array(detector.bytes),
      })),
    );
    // Progress writes are chained so they land in order and are all done before activation.
    let status: UnlearningStatus = 'training';
    let chain: Promise<unknown> = Promise.resolve();
    let lastWrite = 0;
    const onProgress = (p: UnlearningProgress): void => {
      const next = PHASE_STATUS[p.phase];
      const phaseChange = next !== status;
      const now = Date.now();
      if (!phaseChange && now - lastWrite < PROGRESS_INTERVAL_MS && !(p.step !== undefined && p.step === p.total)) return;
      lastWrite = now;
      const record = { ...p, attempt: ctx.attempt };
      if (phaseChange) {
        status = next;
        chain = chain.then(() => this.transition(row, next, `unlearning.${next}`, { attempt: ctx.attempt }, record, null));
      } else {
        chain = chain.then(() => this.repo.update(row.id, { progress: record }));
      }
      // job_progress too, on the same chain: one write at a time (the embedded database serialises
      // connections anyway), and a failed progress write never fails the job.
      chain = chain
        .then(() => ctx.progress({ phase: p.phase, step: p.step, total: p.total, loss: p.loss, etaSeconds: p.etaSeconds, message: p.message }))
        .catch((e: Error) => this.log.warn(`progress of ${row.id}: ${e.message}`));
    };
    const references = this.runner.referencePrompts(row.referencePrompts ?? []);
    try {
      const result = await this.runner.run(
        {
          items: row.items!,
          relabel: row.relabel,
          replacement: row.replacement ?? undefined,
          frozenAdapters,
          referencePrompts: references.prompts,
          options: {
            rank: row.options.rank,
            alpha: row.options.alpha,
            lambda: row.options.lambda,
            epochs: row.options.epochs,
            useCel: row.options.useCel,
            activation: this.runner.activation,
          },
        },
        { onProgress, signal: ctx.signal },
      );
      return { result, references: references.counts };
    } finally {
      await chain;
    }
  }

  /**
   * Adapter blob + row, detector, metrics and the request's new status: one transaction. Checks
   * passed: adapter and detector active, request active. Checks failed: both stored inactive,
   * request needs_review (nothing serves it until an admin activates it).
   */
  private async store(row: UnlearningRequestEntity, result: UnlearningResult, references: ReferenceSetCounts, attempt: number): Promise<UnlearningJobResult> {
    const verdict = result.metrics.activation;
    const passed = verdict?.passed !== false;
    const done = await this.ds.transaction(async (m) => {
      const current = await this.repo.findForUpdate(m, row.id);
      if (!current || FINAL_UNLEARNING_STATUSES.includes(current.status)) return null;
      // A later attempt owns the request (this run's job was recovered elsewhere): store nothing.
      if (current.attempts > attempt) return null;
      const adapter = await this.registry.createIn(
        m,
        {
          name: `unlearning-${current.name}`,
          kind: 'unlearning',
          status: 'inactive',
          baseModel: this.runner.modelId,
          rank: result.rank,
          alpha: result.alpha,
          targetModules: result.targetModules,
          lineage: { unlearningRequestId: current.id, itemsSha256: current.itemsSha256, itemCount: current.itemCount, relabel: current.relabel },
          weights: result.adapterWeights,
        },
        current.actor,
      );
      if (passed) await this.registry.activateIn(m, adapter.id, current.actor);
      const metrics = { ...result.metrics, referenceSet: references } as unknown as Record<string, unknown>;
      const detector = await this.repo.insertDetector(m, {
        requestId: current.id,
        adapterId: adapter.id,
        bytes: result.detector,
        metrics,
        status: passed ? 'active' : 'inactive',
      });
      await this.repo.update(
        current.id,
        {
          status: passed ? 'active' : 'needs_review',
          adapterId: adapter.id,
          detectorId: detector.id,
          metrics,
          error: null,
          finishedAt: new Date(),
          items: current.options.keepData ? current.items : null,
          referencePrompts: current.options.keepData ? current.referencePrompts : null,
          progress: {
            phase: passed ? 'done' : 'needs_review',
            step: result.metrics.steps,
            total: result.metrics.steps,
            loss: result.metrics.lossLast,
            etaSeconds: 0,
            ...(passed ? {} : { message: `activation checks failed: ${verdict.failures.join(', ')}` }),
          },
        },
        m,
      );
      const stored = { adapterId: adapter.id, detectorId: detector.id, detectorSha256: detector.sha256, itemsDeleted: !current.options.keepData };
      await this.audit.record(
        passed
          ? { actor: current.actor, action: 'unlearning.activate', subject: requestSubject(current.id), details: { from: current.status, ...stored } }
          : {
              actor: current.actor,
              action: 'unlearning.needs_review',
              subject: requestSubject(current.id),
              details: { from: current.status, ...stored, failures: verdict.failures, checks: verdict.checks, attempts: verdict.attempts },
            },
        m,
      );
      return { adapterId: adapter.id, detectorId: detector.id };
    });
    if (!done) return { requestId: row.id, outcome: 'skipped' };
    await this.registry.announce(done.adapterId);
    if (!passed) {
      this.log.warn(`request ${row.id} needs review: activation checks failed (${verdict.failures.join(', ')}); adapter ${done.adapterId} stored inactive`);
      this.outcomes.record('needs_review', verdict.failures);
      return { requestId: row.id, outcome: 'needs_review', ...done, status: 'needs_review' };
    }
    this.outcomes.record('active');
    return { requestId: row.id, outcome: 'activated', ...done, status: 'active' };
  }

  private async transition(
    row: UnlearningRequestEntity,
    to: UnlearningStatus,
    action: string,
    details: Record<string, unknown>,
    progress: UnlearningRequestEntity['progress'],
    error: string | null,
  ): Promise<void> {
    await this.ds.transaction(async (m) => {
      const current = await this.repo.findForUpdate(m, row.id);
      if (!current || FINAL_UNLEARNING_STATUSES.includes(current.status)) return;
      await this.repo.update(row.id, { status: to, progress, ...(error !== null ? { error } : {}) }, m);
      await this.audit.record({ actor: current.actor, action, subject: requestSubject(row.id), details: { from: current.status, to, ...details } }, m);
    });
  }
}
