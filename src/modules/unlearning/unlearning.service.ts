import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import canonicalize from 'canonicalize';
import { DataSource } from 'typeorm';
import type { ForgetItem } from '../../ood/relabel.js';
import { AdapterRegistryService } from '../adapters/adapter-registry.service.js';
import { AuditService, auditSubject } from '../audit/audit.service.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { JobQueue } from '../jobs/job-queue.service.js';
import type { CreateUnlearningRequestDto } from './unlearning.dto.js';
import { FINAL_UNLEARNING_STATUSES, type UnlearningRequestEntity } from './unlearning-request.entity.js';
import { UnlearningOutcomeMetrics } from './unlearning-metrics.js';
import { UnlearningRepository, type UnlearningFilter } from './unlearning.repository.js';

export const UNLEARNING_JOB = 'unlearning.train' as const;

/** Audit subject of a request. */
export const requestSubject = (id: string): string => auditSubject('unlearning_request', id);

/** sha256 of the canonical JSON (RFC 8785) of the validated body: what an Idempotency-Key is bound to. */
export function requestSha256(dto: CreateUnlearningRequestDto): string {
  return createHash('sha256').update(canonicalize(dto) ?? '').digest('hex');
}

/** sha256 of the canonical JSON of the items (RFC 8785), kept after the raw items are deleted. */
export function itemsSha256(items: readonly ForgetItem[]): string {
  return createHash('sha256').update(canonicalize(items) ?? '[]').digest('hex');
}

/**
 * Unlearning requests (issue 4): submit (idempotent per API key), read, revoke, and activate after
 * review (issue 11: a request whose checks fail waits as needs_review). Training happens in
 * the `unlearning.train` job (unlearning-train.handler.ts). Every transition is audited with its actor.
 */
@Injectable()
export class UnlearningService {
  private readonly log = new Logger('Unlearning');

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(UnlearningRepository) private readonly repo: UnlearningRepository,
    @Inject(AdapterRegistryService) private readonly registry: AdapterRegistryService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(JobQueue) private readonly jobs: JobQueue,
    @Inject(UnlearningOutcomeMetrics) private readonly outcomes: UnlearningOutcomeMetrics,
  ) {}

  /**
   * Stores a queued request and enqueues its job. With an Idempotency-Key this actor already used,
   * returns that request (`duplicate: true`) and enqueues nothing, provided the body is the same
   * (same canonical JSON hash); another body with that key is IDEMPOTENCY_KEY_REUSED (422).
   */
  async submit(dto: CreateUnlearningRequestDto, actor: string, idempotencyKey?: string): Promise<{ request: UnlearningRequestEntity; duplicate: boolean }> {
    const items = toItems(dto);
    if (dto.relabel === 'replacement' && !dto.replacement?.trim()) {
      throw DomainError.validation([{ field: 'replacement', message: 'relabel "replacement" needs a non-empty replacement' }]);
    }
    if (dto.relabel !== 'replacement' && dto.replacement !== undefined) {
      throw DomainError.validation([{ field: 'replacement', message: 'replacement is only used with relabel "replacement"' }]);
    }
    const bodySha256 = requestSha256(dto);
    if (idempotencyKey !== undefined) {
      const existing = await this.repo.findByIdempotencyKey(actor, idempotencyKey);
      if (existing) return { request: sameBody(existing, idempotencyKey, bodySha256), duplicate: true };
    }
    const row = await this.ds.transaction(async (m) => {
      const inserted = await this.repo.insert(m, {
        name: dto.name,
        relabel: dto.relabel,
        replacement: dto.replacement ?? null,
        options: { ...dto.options },
        items,
        itemsSha256: itemsSha256(items),
        itemCount: items.length,
        idempotencyKey: idempotencyKey ?? null,
        actor,
        referencePrompts: dto.referencePrompts?.length ? dto.referencePrompts : null,
        requestSha256: bodySha256,
      });
      if (!inserted) return null;
      await this.audit.record(
        {
          actor,
          action: 'unlearning.submit',
          subject: requestSubject(inserted.id),
          details: {
            name: inserted.name,
            relabel: inserted.relabel,
            itemCount: inserted.itemCount,
            itemsSha256: inserted.itemsSha256,
            options: inserted.options,
            referencePromptCount: dto.referencePrompts?.length ?? 0,
          },
        },
        m,
      );
      return inserted;
    });
    if (!row) {
      // Lost a race with the same key: the winner's request.
      return { request: sameBody((await this.repo.findByIdempotencyKey(actor, idempotencyKey!))!, idempotencyKey!, bodySha256), duplicate: true };
    }
    try {
      const jobId = await this.jobs.enqueue(UNLEARNING_JOB, { requestId: row.id }, { subject: row.id });
      return { request: await this.repo.update(row.id, { jobId }), duplicate: false };
    } catch (e) {
      await this.fail(row.id, actor, `could not enqueue the job: ${(e as Error).message}`);
      throw e;
    }
  }

  list(filter: UnlearningFilter): Promise<{ items: UnlearningRequestEntity[]; total: number }> {
    return this.repo.list(filter);
  }

  async get(id: string): Promise<UnlearningRequestEntity> {
    const row = await this.repo.findById(id);
    if (!row) throw DomainError.notFound('unlearning request', id);
    return row;
  }

  /**
   * The request now and on every change until it is final (or `signal` fires): re-reads the row
   * every `pollMs`, so it follows a job running on any replica. The first read throws NOT_FOUND.
   */
  async *watch(id: string, signal: AbortSignal, pollMs = 300): AsyncGenerator<UnlearningRequestEntity> {
    let current = await this.get(id);
    let last = '';
    while (!signal.aborted) {
      const key = JSON.stringify([current.status, current.progress, current.error, current.adapterId]);
      if (key !== last) {
        last = key;
        yield current;
      }
      if (FINAL_UNLEARNING_STATUSES.includes(current.status)) return;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      if (signal.aborted) return;
      current = await this.get(id);
    }
  }

  /**
   * Stops routing the request's adapter and detector (admin). History stays: the rows are marked
   * revoked, nothing is deleted. A request still in its job is revoked too; its job then stores nothing.
   */
  async revoke(id: string, actor: string, reason?: string): Promise<UnlearningRequestEntity> {
    let adapterId: string | null = null;
    const row = await this.ds.transaction(async (m) => {
      const r = await this.repo.findForUpdate(m, id);
      if (!r) throw DomainError.notFound('unlearning request', id);
      if (r.status === 'revoked' || r.status === 'failed') {
        throw new DomainError(ErrorCode.CONFLICT, `unlearning request ${id} is ${r.status}`, { id, status: r.status });
      }
      if (r.adapterId) {
        adapterId = r.adapterId;
        // A needs_review adapter is inactive (never served); revoking it only makes that final.
        await this.registry.revokeIn(m, r.adapterId, actor, reason ?? `unlearning request ${id} revoked`);
        await this.repo.revokeDetector(m, r.adapterId);
      }
      const updated = await this.repo.update(id, { status: 'revoked', finishedAt: r.finishedAt ?? new Date(), progress: { ...r.progress, phase: 'revoked' } }, m);
      await this.audit.record({ actor, action: 'unlearning.revoke', subject: requestSubject(id), details: { from: r.status, adapterId: r.adapterId, reason: reason ?? null } }, m);
      return updated;
    });
    if (adapterId) await this.registry.announce(adapterId);
    this.outcomes.record('revoked');
    return row;
  }

  /**
   * needs_review → active (admin): the request's stored adapter and detector go active in one
   * transaction with the audit event (`unlearning.activate`, with the reason and the failed checks
   * the admin accepted), then the change is announced so every replica's registry picks it up.
   * CONFLICT unless the request is needs_review at that moment (conditional update: of two
   * concurrent activations, or an activation and a revoke, exactly one wins).
   */
  async activateReviewed(id: string, actor: string, reason: string): Promise<UnlearningRequestEntity> {
    const row = await this.ds.transaction(async (m) => {
      const r = await this.repo.activateReviewed(m, id, { phase: 'done', message: 'activated by an admin after review' });
      if (!r) {
        const now = await this.repo.findById(id, m);
        if (!now) throw DomainError.notFound('unlearning request', id);
        throw new DomainError(ErrorCode.CONFLICT, `unlearning request ${id} is ${now.status}; only a needs_review request can be activated`, {
          id,
          status: now.status,
        });
      }
      await this.registry.activateIn(m, r.adapterId!, actor);
      await this.repo.activateDetector(m, r.adapterId!);
      const verdict = (r.metrics?.activation ?? null) as { failures?: string[] } | null;
      await this.audit.record(
        {
          actor,
          action: 'unlearning.activate',
          subject: requestSubject(id),
          details: { from: 'needs_review', adapterId: r.adapterId, detectorId: r.detectorId, reason, acceptedFailures: verdict?.failures ?? [] },
        },
        m,
      );
      return r;
    });
    await this.registry.announce(row.adapterId!);
    this.outcomes.record('review_activated');
    return row;
  }

  /** Marks a request failed with a reason (audited); raw items deleted unless keepData. */
  async fail(id: string, actor: string, reason: string): Promise<void> {
    const failed = await this.ds.transaction(async (m) => {
      const r = await this.repo.findForUpdate(m, id);
      if (!r || FINAL_UNLEARNING_STATUSES.includes(r.status)) return false;
      await this.repo.update(
        id,
        {
          status: 'failed',
          error: reason,
          finishedAt: new Date(),
          items: r.options.keepData ? r.items : null,
          referencePrompts: r.options.keepData ? r.referencePrompts : null,
          progress: { ...r.progress, phase: 'failed', message: reason },
        },
        m,
      );
      await this.audit.record({ actor, action: 'unlearning.fail', subject: requestSubject(id), details: { from: r.status, reason } }, m);
      return true;
    });
    if (failed) this.outcomes.record('failed');
  }
}

/** The earlier request of an Idempotency-Key, if it was submitted with this body; else IDEMPOTENCY_KEY_REUSED. */
function sameBody(earlier: UnlearningRequestEntity, key: string, bodySha256: string): UnlearningRequestEntity {
  // Null: stored before hashes were kept; such a request is answered as before.
  if (earlier.requestSha256 === null || earlier.requestSha256 === bodySha256) return earlier;
  throw new DomainError(
    ErrorCode.IDEMPOTENCY_KEY_REUSED,
    `Idempotency-Key "${key}" was already used with a different request body (request ${earlier.id}); send a new key for a new request`,
    { field: 'Idempotency-Key', idempotencyKey: key, requestId: earlier.id },
  );
}

function toItems(dto: CreateUnlearningRequestDto): ForgetItem[] {
  if (dto.items && dto.texts) throw DomainError.validation([{ field: 'items', message: 'give either items or texts, not both' }]);
  if (dto.items) return dto.items.map((i) => ({ prompt: i.prompt, ...(i.answer !== undefined ? { answer: i.answer } : {}), ...(i.options ? { options: i.options } : {}) }));
  if (dto.texts) return dto.texts.map((prompt) => ({ prompt }));
  throw DomainError.validation([{ field: 'items', message: 'items (or texts) must hold at least one entry' }]);
}
