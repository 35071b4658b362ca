import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AdapterEntity } from '../adapters/adapter.entity.js';
import { OodDetectorEntity, UnlearningRequestEntity, type UnlearningStatus } from './unlearning-request.entity.js';

export interface UnlearningFilter {
  status?: UnlearningStatus;
  name?: string;
  actor?: string;
  limit: number;
  offset: number;
}

export type NewUnlearningRow = Pick<
  UnlearningRequestEntity,
  'name' | 'relabel' | 'replacement' | 'options' | 'items' | 'itemsSha256' | 'itemCount' | 'idempotencyKey' | 'actor'
> &
  Partial<Pick<UnlearningRequestEntity, 'referencePrompts' | 'requestSha256'>>;

export type UnlearningPatch = Partial<
  Pick<
    UnlearningRequestEntity,
    'status' | 'progress' | 'adapterId' | 'detectorId' | 'metrics' | 'error' | 'items' | 'referencePrompts' | 'jobId' | 'attempts' | 'finishedAt'
  >
>;

/** An active unlearning adapter with its detector, as serving loads them. */
export interface ActiveUnlearningRow {
  adapter: AdapterEntity;
  detector: OodDetectorEntity;
}

/** Named queries over `unlearning_request` and `ood_detector`. */
@Injectable()
export class UnlearningRepository {
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}

  private requests(m?: EntityManager) {
    return (m ?? this.ds.manager).getRepository(UnlearningRequestEntity);
  }

  private detectors(m?: EntityManager) {
    return (m ?? this.ds.manager).getRepository(OodDetectorEntity);
  }

  /**
   * Inserts a queued request; with an idempotency key already used by this actor, inserts nothing
   * and returns null (the caller reads the existing one).
   */
  async insert(m: EntityManager, row: NewUnlearningRow): Promise<UnlearningRequestEntity | null> {
    const rows: { id: string }[] = await m.query(
      `INSERT INTO unlearning_request (name, status, relabel, replacement, options, items, items_sha256, item_count, idempotency_key, actor, reference_prompts, request_sha256)
       VALUES ($1, 'queued', $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10::jsonb, $11)
       ON CONFLICT (actor, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING id`,
      [
        row.name,
        row.relabel,
        row.replacement,
        JSON.stringify(row.options),
        JSON.stringify(row.items),
        row.itemsSha256,
        row.itemCount,
        row.idempotencyKey,
        row.actor,
        row.referencePrompts ? JSON.stringify(row.referencePrompts) : null,
        row.requestSha256 ?? null,
      ],
    );
    return rows.length === 0 ? null : this.requests(m).findOneByOrFail({ id: rows[0].id });
  }

  findByIdempotencyKey(actor: string, key: string): Promise<UnlearningRequestEntity | null> {
    return this.requests().findOneBy({ actor, idempotencyKey: key });
  }

  findById(id: string, m?: EntityManager): Promise<UnlearningRequestEntity | null> {
    return this.requests(m).findOneBy({ id });
  }

  /** The row, locked FOR UPDATE in `m`'s transaction. */
  findForUpdate(m: EntityManager, id: string): Promise<UnlearningRequestEntity | null> {
    return this.requests(m).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  async update(id: string, patch: UnlearningPatch, m?: EntityManager): Promise<UnlearningRequestEntity> {
    await this.requests(m).update({ id }, { ...patch, updatedAt: new Date() } as never);
    return this.requests(m).findOneByOrFail({ id });
  }

  async list(filter: UnlearningFilter): Promise<{ items: UnlearningRequestEntity[]; total: number }> {
    const qb = this.requests().createQueryBuilder('r').orderBy('r.created_at', 'DESC').addOrderBy('r.id', 'ASC');
    if (filter.status) qb.andWhere('r.status = :status', { status: filter.status });
    if (filter.name) qb.andWhere('r.name = :name', { name: filter.name });
    if (filter.actor) qb.andWhere('r.actor = :actor', { actor: filter.actor });
    const [items, total] = await qb.take(filter.limit).skip(filter.offset).getManyAndCount();
    return { items, total };
  }

  /** Stores a request's detector; `inactive` for a request that needs review (default active). */
  async insertDetector(
    m: EntityManager,
    row: { requestId: string; adapterId: string; bytes: Uint8Array; metrics: Record<string, unknown>; status?: 'active' | 'inactive' },
  ): Promise<OodDetectorEntity> {
    const bytes = Buffer.from(row.bytes.buffer, row.bytes.byteOffset, row.bytes.byteLength);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const rows: { id: string }[] = await m.query(
      `INSERT INTO ood_detector (request_id, adapter_id, status, bytes, sha256, size_bytes, metrics)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING id`,
      [row.requestId, row.adapterId, row.status ?? 'active', bytes, sha256, bytes.length, JSON.stringify(row.metrics)],
    );
    return this.detectors(m).findOneByOrFail({ id: rows[0].id });
  }

  /**
   * needs_review → active for request `id`, only if it still is needs_review (a conditional UPDATE,
   * so a concurrent activate or revoke cannot both win). Returns the updated row, or null when the
   * request is not (or no longer) needs_review.
   */
  async activateReviewed(m: EntityManager, id: string, progress: Partial<UnlearningRequestEntity['progress']>): Promise<UnlearningRequestEntity | null> {
    // A CTE so every driver answers with plain rows (an UPDATE's result shape differs between them).
    const rows: { id: string }[] = await m.query(
      `WITH u AS (
         UPDATE unlearning_request SET status = 'active', progress = progress || $2::jsonb, updated_at = now()
         WHERE id = $1 AND status = 'needs_review' RETURNING id
       ) SELECT id FROM u`,
      [id, JSON.stringify(progress)],
    );
    return rows.length > 0 ? this.findById(id, m) : null;
  }

  /** inactive → active for the detector of `adapterId` (a reviewed request). */
  async activateDetector(m: EntityManager, adapterId: string): Promise<void> {
    await m.query(`UPDATE ood_detector SET status = 'active', updated_at = now() WHERE adapter_id = $1 AND status = 'inactive'`, [adapterId]);
  }

  async revokeDetector(m: EntityManager, adapterId: string): Promise<void> {
    await this.detectors(m).update({ adapterId }, { status: 'revoked', updatedAt: new Date() });
  }

  findDetector(id: string): Promise<OodDetectorEntity | null> {
    return this.detectors().findOneBy({ id });
  }

  /** Every active unlearning adapter that has an active detector, oldest first. */
  async activeUnlearning(m?: EntityManager): Promise<ActiveUnlearningRow[]> {
    const mgr = m ?? this.ds.manager;
    const adapters = await mgr
      .getRepository(AdapterEntity)
      .createQueryBuilder('a')
      .where(`a.kind = 'unlearning' AND a.status = 'active'`)
      .orderBy('a.created_at', 'ASC')
      .addOrderBy('a.id', 'ASC')
      .getMany();
    if (adapters.length === 0) return [];
    const detectors = await this.detectors(m)
      .createQueryBuilder('d')
      .where(`d.status = 'active' AND d.adapter_id IN (:...ids)`, { ids: adapters.map((a) => a.id) })
      .getMany();
    const byAdapter = new Map(detectors.map((d) => [d.adapterId, d]));
    return adapters.filter((a) => byAdapter.has(a.id)).map((adapter) => ({ adapter, detector: byAdapter.get(adapter.id)! }));
  }
}

