import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ForgetItem, RelabelMode } from '../../ood/relabel.js';

export const UNLEARNING_STATUSES = ['queued', 'training', 'calibrating', 'evaluating', 'active', 'needs_review', 'failed', 'revoked'] as const;
export type UnlearningStatus = (typeof UNLEARNING_STATUSES)[number];
/**
 * Statuses after which the request's job does nothing more. `needs_review` (checks failed, adapter
 * stored inactive) is final for the job; only an admin moves it on (activate or revoke).
 */
export const FINAL_UNLEARNING_STATUSES: readonly UnlearningStatus[] = ['active', 'needs_review', 'failed', 'revoked'];
export const RELABEL_MODES = ['refusal', 'random-option', 'replacement'] as const satisfies readonly RelabelMode[];

/** Request options as stored (what the operator asked for; the pipeline fills the defaults). */
export interface StoredUnlearningOptions {
  rank?: number;
  alpha?: number;
  lambda?: number;
  epochs?: number;
  keepData?: boolean;
  useCel?: boolean;
}

/** Live progress of the request's job. */
export interface UnlearningProgressRecord {
  phase?: string;
  step?: number;
  total?: number;
  loss?: number;
  etaSeconds?: number;
  attempt?: number;
  message?: string;
}

const bigintToNumber = { to: (v: number) => v, from: (v: string | number) => Number(v) };

/** One request to forget a set of items (DESIGN §3, issue 4). */
@Entity('unlearning_request')
export class UnlearningRequestEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('text') name: string;
  @Column('text') status: UnlearningStatus;
  @Column('text') relabel: RelabelMode;
  @Column('text', { nullable: true }) replacement: string | null;
  @Column('jsonb') options: StoredUnlearningOptions;
  /** The raw items; null once the job has ended unless keepData. */
  @Column('jsonb', { nullable: true }) items: ForgetItem[] | null;
  /** The request's own reference prompts for the checks; null once the job has ended unless keepData. */
  @Column('jsonb', { name: 'reference_prompts', nullable: true }) referencePrompts: string[] | null;
  @Column('char', { name: 'items_sha256', length: 64 }) itemsSha256: string;
  @Column('integer', { name: 'item_count' }) itemCount: number;
  @Column('jsonb') progress: UnlearningProgressRecord;
  @Column('uuid', { name: 'adapter_id', nullable: true }) adapterId: string | null;
  @Column('uuid', { name: 'detector_id', nullable: true }) detectorId: string | null;
  @Column('jsonb', { nullable: true }) metrics: Record<string, unknown> | null;
  @Column('text', { nullable: true }) error: string | null;
  @Column('text', { name: 'idempotency_key', nullable: true }) idempotencyKey: string | null;
  /** sha256 of the canonical JSON of the submitted body; a reused Idempotency-Key must come with the same (null: stored before it was kept). */
  @Column('char', { name: 'request_sha256', length: 64, nullable: true }) requestSha256: string | null;
  /** API key id of the operator who submitted it. */
  @Column('text') actor: string;
  @Column('uuid', { name: 'job_id', nullable: true }) jobId: string | null;
  @Column('integer') attempts: number;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt: Date;
  @Column('timestamptz', { name: 'finished_at', nullable: true }) finishedAt: Date | null;
}

/** The detector of one request's adapter (serializeDetector bytes). */
@Entity('ood_detector')
export class OodDetectorEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('uuid', { name: 'request_id' }) requestId: string;
  @Column('uuid', { name: 'adapter_id' }) adapterId: string;
  /** inactive: stored with a request that needs review. */
  @Column('text') status: 'active' | 'inactive' | 'revoked';
  @Column('bytea') bytes: Buffer;
  @Column('char', { length: 64 }) sha256: string;
  @Column('bigint', { name: 'size_bytes', transformer: bigintToNumber }) sizeBytes: number;
  @Column('jsonb') metrics: Record<string, unknown>;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt: Date;
}
