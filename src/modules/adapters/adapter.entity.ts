import { Column, Entity, PrimaryColumn } from 'typeorm';

export const ADAPTER_KINDS = ['unlearning', 'task', 'generated', 'imported'] as const;
export type AdapterKind = (typeof ADAPTER_KINDS)[number];
export const ADAPTER_STATUSES = ['training', 'inactive', 'active', 'revoked', 'failed'] as const;
export type AdapterStatus = (typeof ADAPTER_STATUSES)[number];

const bigintToNumber = { to: (v: number) => v, from: (v: string | number) => Number(v) };

/** A LoRA adapter version in the registry; its weights live in {@link AdapterBlobEntity}. */
@Entity('adapter')
export class AdapterEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('text') name: string;
  @Column('text') kind: AdapterKind;
  @Column('text') status: AdapterStatus;
  @Column('integer') version: number;
  @Column('text', { name: 'base_model' }) baseModel: string;
  @Column('integer') rank: number;
  @Column('double precision') alpha: number;
  @Column('text', { name: 'target_modules', array: true }) targetModules: string[];
  @Column('char', { name: 'blob_sha256', length: 64, nullable: true }) blobSha256: string | null;
  @Column('bigint', { name: 'size_bytes', transformer: bigintToNumber }) sizeBytes: number;
  /** Where the adapter came from: parent adapter ids, request ids, training data hashes... */
  @Column('jsonb') lineage: Record<string, unknown>;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt: Date;
}

/** Content-addressed adapter weights (safetensors bytes), keyed by their sha256. */
@Entity('adapter_blob')
export class AdapterBlobEntity {
  @PrimaryColumn('char', { length: 64 }) sha256: string;
  @Column('bytea') bytes: Buffer;
  @Column('bigint', { name: 'size_bytes', transformer: bigintToNumber }) sizeBytes: number;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
}
