import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

export const GENERATOR_STATUSES = ['training', 'ready', 'failed'] as const;
export type GeneratorStatus = (typeof GENERATOR_STATUSES)[number];

/** A generator version (without its bytes). */
export interface GeneratorRow {
  id: string;
  version: number;
  status: GeneratorStatus;
  /** The training job; null for a version registered from a file (see `source`). */
  jobId: string | null;
  /** Where a version no job trained comes from (`shipped with the model`); null for trained ones. */
  source: string | null;
  options: Record<string, unknown>;
  metrics: Record<string, unknown>;
  sha256: string | null;
  sizeBytes: number;
  error: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const SHIPPED_SOURCE = 'shipped with the model';

const COLUMNS = `id, version, status, job_id AS "jobId", source, options, metrics, sha256, size_bytes::float8 AS "sizeBytes", error,
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Named queries over `generator`. */
@Injectable()
export class GeneratorRepository {
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}

  /** The version row of a job, created (next version number) when the job first runs. */
  async findOrCreateForJob(id: string, jobId: string, options: Record<string, unknown>, m: EntityManager): Promise<{ row: GeneratorRow; created: boolean }> {
    const existing: GeneratorRow[] = await m.query(`SELECT ${COLUMNS} FROM generator WHERE job_id = $1`, [jobId]);
    if (existing[0]) return { row: existing[0], created: false };
    await m.query(`LOCK TABLE generator IN SHARE ROW EXCLUSIVE MODE`); // serialise version numbers
    const rows: GeneratorRow[] = await m.query(
      `INSERT INTO generator (id, version, status, job_id, options)
       VALUES ($1, (SELECT COALESCE(max(version), 0) + 1 FROM generator), 'training', $2, $3) RETURNING ${COLUMNS}`,
      [id, jobId, JSON.stringify(options)],
    );
    return { row: rows[0], created: true };
  }

  async findById(id: string): Promise<GeneratorRow | null> {
    const rows: GeneratorRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM generator WHERE id = $1`, [id]);
    return rows[0] ?? null;
  }

  /** The version with this number, or null. */
  async findByVersion(version: number): Promise<GeneratorRow | null> {
    const rows: GeneratorRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM generator WHERE version = $1`, [version]);
    return rows[0] ?? null;
  }

  /** A version registered from a file (no job) with these bytes, or null. */
  async findRegistered(sha256: string, m?: EntityManager): Promise<GeneratorRow | null> {
    const rows: GeneratorRow[] = await (m ?? this.ds).query(`SELECT ${COLUMNS} FROM generator WHERE job_id IS NULL AND sha256 = $1`, [sha256]);
    return rows[0] ?? null;
  }

  /**
   * Registers a ready version from a file (no job) unless one with the same bytes exists; the table
   * lock serialises version numbers and makes concurrent registrations (two replicas starting
   * together) find each other's row; the unique index on sha256 is the last guard.
   */
  async registerFile(
    id: string,
    bytes: Uint8Array,
    input: { source: string; options: Record<string, unknown>; metrics: Record<string, unknown> },
    m: EntityManager,
  ): Promise<{ row: GeneratorRow; created: boolean }> {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const sha = createHash('sha256').update(buf).digest('hex');
    await m.query(`LOCK TABLE generator IN SHARE ROW EXCLUSIVE MODE`);
    const existing = await this.findRegistered(sha, m);
    if (existing) return { row: existing, created: false };
    const rows: GeneratorRow[] = await m.query(
      `INSERT INTO generator (id, version, status, job_id, source, options, metrics, sha256, bytes, size_bytes)
       VALUES ($1, (SELECT COALESCE(max(version), 0) + 1 FROM generator), 'ready', NULL, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
      [id, input.source, JSON.stringify(input.options), JSON.stringify(input.metrics), sha, buf, buf.length],
    );
    return { row: rows[0], created: true };
  }

  /** The newest ready version, or null. */
  async latestReady(): Promise<GeneratorRow | null> {
    const rows: GeneratorRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM generator WHERE status = 'ready' ORDER BY version DESC LIMIT 1`);
    return rows[0] ?? null;
  }

  async list(limit: number): Promise<GeneratorRow[]> {
    return this.ds.query(`SELECT ${COLUMNS} FROM generator ORDER BY version DESC LIMIT $1`, [limit]);
  }

  async markReady(id: string, bytes: Uint8Array, metrics: Record<string, unknown>, m: EntityManager): Promise<string> {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const sha = createHash('sha256').update(buf).digest('hex');
    await m.query(
      `UPDATE generator SET status = 'ready', bytes = $2, sha256 = $3, size_bytes = $4, metrics = $5, updated_at = now() WHERE id = $1 AND status = 'training'`,
      [id, buf, sha, buf.length, JSON.stringify(metrics)],
    );
    return sha;
  }

  async markFailed(id: string, error: string, m: EntityManager): Promise<void> {
    await m.query(`UPDATE generator SET status = 'failed', error = $2, updated_at = now() WHERE id = $1 AND status = 'training'`, [id, error]);
  }

  /** The version's serialised bytes, re-hashed (a mismatch throws). */
  async readBytes(id: string): Promise<Buffer> {
    const rows: { bytes: Buffer | null; sha256: string | null }[] = await this.ds.query(`SELECT bytes, sha256 FROM generator WHERE id = $1`, [id]);
    const r = rows[0];
    if (!r?.bytes || !r.sha256) throw new Error(`generator ${id} has no bytes`);
    if (createHash('sha256').update(r.bytes).digest('hex') !== r.sha256) throw new Error(`generator ${id} bytes are corrupt`);
    return r.bytes;
  }
}
