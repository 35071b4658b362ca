import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { ChainedAuditEvent } from '../audit/audit-chain.js';
import { AuditService, auditSubject } from '../audit/audit.service.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { DatabaseEvents } from '../database/database-events.service.js';
import type { AdapterEntity, AdapterKind, AdapterStatus } from './adapter.entity.js';
import { AdapterRepository, type AdapterFilter } from './adapter.repository.js';

/** NOTIFY channel announcing adapter changes; the payload is the adapter id. */
export const ADAPTERS_CHANNEL = 'lethe_adapters';

export interface CreateAdapterInput {
  name: string;
  kind: AdapterKind;
  /** Default `inactive`; `training` for a row created before its weights exist. */
  status?: Extract<AdapterStatus, 'training' | 'inactive' | 'active'>;
  /** Default: one more than the highest version with this name (1 for a new name). */
  version?: number;
  baseModel: string;
  rank: number;
  alpha: number;
  targetModules: string[];
  lineage?: Record<string, unknown>;
  /** safetensors bytes; may be omitted while training and attached by completeTraining(). */
  weights?: Uint8Array;
}

export type NewVersionInput = Partial<Pick<CreateAdapterInput, 'rank' | 'alpha' | 'targetModules' | 'lineage' | 'weights' | 'status'>>;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** First key of the transaction-scoped advisory lock taken per adapter name (second: hashtext(name)). */
const ADAPTER_NAME_LOCK = 7435004;
/** Names the unlearning jobs give their adapters (`unlearning-<request name>`): no other kind takes them. */
export const UNLEARNING_NAME_PREFIX = 'unlearning-';
/** The only route that changes an unlearning adapter's state. */
export const UNLEARNING_REVOKE_ROUTE = 'POST /v1/unlearning-requests/:id/revoke';

/**
 * The adapter registry (DESIGN §6). Every state change runs in one transaction with its audit
 * event (`adapter.create`, `adapter.activate`...) carrying `actor` (an API key id or `system`),
 * and is announced on {@link ADAPTERS_CHANNEL} after it commits.
 */
@Injectable()
export class AdapterRegistryService {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(AdapterRepository) private readonly repo: AdapterRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(DatabaseEvents) private readonly events: DatabaseEvents,
  ) {}

  /** Stores the weights (content-addressed) and the adapter row together. 409 on a taken (name, version). */
  async create(input: CreateAdapterInput, actor: string): Promise<AdapterEntity> {
    const adapter = await this.tx((m) => this.createIn(m, input, actor));
    await this.announce(adapter.id);
    return adapter;
  }

  /**
   * create() inside the caller's transaction `m` (its audit event joins it). The caller announces
   * the change with {@link announce} after its transaction commits.
   */
  async createIn(m: EntityManager, input: CreateAdapterInput, actor: string): Promise<AdapterEntity> {
    await this.claimName(m, input.name, input.kind);
    const version = input.version ?? (await this.repo.maxVersion(m, input.name)) + 1;
    const blob = input.weights ? await this.storeBlob(m, input.weights) : undefined;
    const row = await this.repo.insert(m, {
      name: input.name,
      kind: input.kind,
      status: input.status ?? 'inactive',
      version,
      baseModel: input.baseModel,
      rank: input.rank,
      alpha: input.alpha,
      targetModules: input.targetModules,
      blobSha256: blob?.sha256 ?? null,
      sizeBytes: blob?.size ?? 0,
      lineage: input.lineage ?? {},
    });
    await this.record(m, actor, 'adapter.create', row, { name: row.name, version, kind: row.kind, status: row.status, blobSha256: row.blobSha256 });
    return row;
  }

  /** A new version of `id`'s adapter (same name and kind, version = highest + 1, lineage.parent = id). */
  async newVersion(id: string, input: NewVersionInput, actor: string): Promise<AdapterEntity> {
    const parent = await this.get(id);
    return this.create(
      {
        name: parent.name,
        kind: parent.kind,
        baseModel: parent.baseModel,
        rank: input.rank ?? parent.rank,
        alpha: input.alpha ?? parent.alpha,
        targetModules: input.targetModules ?? parent.targetModules,
        status: input.status,
        lineage: { ...parent.lineage, ...input.lineage, parent: parent.id, parentVersion: parent.version },
        weights: input.weights,
      },
      actor,
    );
  }

  /** inactive → active. A `training` adapter needs its weights first. */
  activate(id: string, actor: string): Promise<AdapterEntity> {
    return this.transition(id, 'active', ['inactive'], actor, 'adapter.activate');
  }

  /** active → inactive. */
  deactivate(id: string, actor: string): Promise<AdapterEntity> {
    return this.transition(id, 'inactive', ['active'], actor, 'adapter.deactivate');
  }

  /** Any state but revoked → revoked (terminal: a revoked adapter is never served again). */
  revoke(id: string, actor: string, reason?: string): Promise<AdapterEntity> {
    return this.transition(id, 'revoked', ['training', 'inactive', 'active', 'failed'], actor, 'adapter.revoke', { reason: reason ?? null });
  }

  /**
   * activate() for the generic lifecycle route (any role): an unlearning adapter is refused with
   * UNLEARNING_ADAPTER_LOCKED, since switching it on or off would switch forgetting on or off
   * behind its request's back; it changes state only through {@link UNLEARNING_REVOKE_ROUTE}.
   */
  lifecycleActivate(id: string, actor: string): Promise<AdapterEntity> {
    return this.transition(id, 'active', ['inactive'], actor, 'adapter.activate', {}, true);
  }

  /** deactivate() for the generic lifecycle route: refuses unlearning adapters, as lifecycleActivate(). */
  lifecycleDeactivate(id: string, actor: string): Promise<AdapterEntity> {
    return this.transition(id, 'inactive', ['active'], actor, 'adapter.deactivate', {}, true);
  }

  /** activate() inside the caller's transaction; announce after it commits. */
  activateIn(m: EntityManager, id: string, actor: string): Promise<AdapterEntity> {
    return this.transitionIn(m, id, 'active', ['inactive'], actor, 'adapter.activate');
  }

  /** revoke() inside the caller's transaction; announce after it commits. */
  revokeIn(m: EntityManager, id: string, actor: string, reason?: string): Promise<AdapterEntity> {
    return this.transitionIn(m, id, 'revoked', ['training', 'inactive', 'active', 'failed'], actor, 'adapter.revoke', { reason: reason ?? null });
  }

  /** training → failed, with the reason in the audit event. */
  markFailed(id: string, actor: string, reason: string): Promise<AdapterEntity> {
    return this.transition(id, 'failed', ['training'], actor, 'adapter.fail', { reason });
  }

  /** training → inactive with its trained weights stored. */
  async completeTraining(id: string, weights: Uint8Array, actor: string): Promise<AdapterEntity> {
    const adapter = await this.tx(async (m) => {
      const row = await this.lockOrThrow(m, id);
      if (row.status !== 'training') throw this.badTransition(row, 'inactive');
      const blob = await this.storeBlob(m, weights);
      const updated = await this.repo.update(m, id, { status: 'inactive', blobSha256: blob.sha256, sizeBytes: blob.size });
      await this.record(m, actor, 'adapter.train_complete', updated, { from: 'training', to: 'inactive', blobSha256: blob.sha256 });
      return updated;
    });
    await this.announce(id);
    return adapter;
  }

  /** Adapters matching the filter, newest first, with the total count. */
  list(filter: AdapterFilter): Promise<{ items: AdapterEntity[]; total: number }> {
    return this.repo.list(filter);
  }

  /** The adapter, or a NOT_FOUND DomainError. */
  async get(id: string): Promise<AdapterEntity> {
    const row = await this.repo.findById(id);
    if (!row) throw DomainError.notFound('adapter', id);
    return row;
  }

  /** The adapter's audit events, oldest first. */
  async history(id: string, limit = 1000): Promise<ChainedAuditEvent[]> {
    await this.get(id);
    return (await this.audit.list({ subject: auditSubject('adapter', id), limit })).items;
  }

  /** Blob bytes by content hash, re-hashed on every read; a mismatch is an INTEGRITY error. */
  async readBlob(hash: string): Promise<Buffer> {
    const blob = await this.repo.getBlob(hash);
    if (!blob) throw DomainError.notFound('adapter blob', hash);
    const actual = sha256(blob.bytes);
    if (actual !== hash || blob.bytes.length !== blob.sizeBytes) {
      throw new DomainError(ErrorCode.INTEGRITY, `adapter blob ${hash} is corrupt (content hashes to ${actual})`, { sha256: hash, actual });
    }
    return blob.bytes;
  }

  /** The adapter's weights (safetensors bytes), verified. */
  async readWeights(id: string): Promise<Buffer> {
    const row = await this.get(id);
    if (!row.blobSha256) throw new DomainError(ErrorCode.CONFLICT, `adapter ${id} has no weights yet (status ${row.status})`, { id });
    return this.readBlob(row.blobSha256);
  }

  private async transition(
    id: string,
    to: AdapterStatus,
    from: AdapterStatus[],
    actor: string,
    action: string,
    details: Record<string, unknown> = {},
    refuseUnlearning = false,
  ): Promise<AdapterEntity> {
    const adapter = await this.tx((m) => this.transitionIn(m, id, to, from, actor, action, details, refuseUnlearning));
    await this.announce(id);
    return adapter;
  }

  private async transitionIn(
    m: EntityManager,
    id: string,
    to: AdapterStatus,
    from: AdapterStatus[],
    actor: string,
    action: string,
    details: Record<string, unknown> = {},
    refuseUnlearning = false,
  ): Promise<AdapterEntity> {
    // FOR UPDATE: concurrent transitions of one row queue here, and the later ones see the new status (409).
    const row = await this.lockOrThrow(m, id);
    if (refuseUnlearning && row.kind === 'unlearning') {
      throw new DomainError(
        ErrorCode.UNLEARNING_ADAPTER_LOCKED,
        `adapter ${row.id} is an unlearning adapter: it changes state only through its unlearning request (${UNLEARNING_REVOKE_ROUTE}, admin)`,
        { id: row.id, kind: row.kind, route: UNLEARNING_REVOKE_ROUTE, unlearningRequestId: row.lineage.unlearningRequestId ?? null },
      );
    }
    if (!from.includes(row.status)) throw this.badTransition(row, to);
    const updated = await this.repo.update(m, id, { status: to });
    await this.record(m, actor, action, updated, { from: row.status, to, ...details });
    return updated;
  }

  private async lockOrThrow(m: EntityManager, id: string): Promise<AdapterEntity> {
    const row = await this.repo.findForUpdate(m, id);
    if (!row) throw DomainError.notFound('adapter', id);
    return row;
  }

  /**
   * A name belongs to one kind: versions of a name are all of that kind, so an import (or a task)
   * can never become a new version of an unlearning adapter. The advisory lock serialises
   * creators of one name (the check and the version number stay right under concurrency).
   */
  private async claimName(m: EntityManager, name: string, kind: AdapterKind): Promise<void> {
    if (kind !== 'unlearning' && name.startsWith(UNLEARNING_NAME_PREFIX)) {
      throw new DomainError(ErrorCode.ADAPTER_NAME_TAKEN, `adapter names starting with "${UNLEARNING_NAME_PREFIX}" are reserved for unlearning adapters`, {
        field: 'name',
        name,
        kind,
      });
    }
    await m.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [ADAPTER_NAME_LOCK, name]);
    const other = (await this.repo.kindsOfName(m, name)).find((k) => k !== kind);
    if (other) {
      throw new DomainError(ErrorCode.ADAPTER_NAME_TAKEN, `adapter name "${name}" belongs to a ${other} adapter; choose another name`, {
        field: 'name',
        name,
        kind,
        takenBy: other,
      });
    }
  }

  private badTransition(row: AdapterEntity, to: AdapterStatus): DomainError {
    return new DomainError(ErrorCode.CONFLICT, `adapter ${row.id} cannot go from ${row.status} to ${to}`, { id: row.id, status: row.status, to });
  }

  private async storeBlob(m: EntityManager, weights: Uint8Array): Promise<{ sha256: string; size: number }> {
    const bytes = Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength);
    const hash = sha256(bytes);
    await this.repo.putBlob(m, hash, bytes);
    return { sha256: hash, size: bytes.length };
  }

  private record(m: EntityManager, actor: string, action: string, row: AdapterEntity, details: Record<string, unknown>): Promise<ChainedAuditEvent> {
    return this.audit.record({ actor, action, subject: auditSubject('adapter', row.id), details: { ...details, name: row.name, version: row.version } }, m);
  }

  /** Runs `fn` in a transaction; a unique violation on (name, version) becomes CONFLICT. */
  private async tx<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.ds.transaction(fn);
    } catch (e) {
      const err = e as { code?: string; constraint?: string; driverError?: { code?: string; constraint?: string } };
      const code = err.driverError?.code ?? err.code;
      if (code === '23505') throw new DomainError(ErrorCode.CONFLICT, 'an adapter with this name and version exists', { constraint: err.driverError?.constraint ?? err.constraint });
      throw e;
    }
  }

  /** Announces a change of adapter `id` on {@link ADAPTERS_CHANNEL} (after its transaction commits). */
  async announce(id: string): Promise<void> {
    await this.events.notify(ADAPTERS_CHANNEL, id);
  }
}
