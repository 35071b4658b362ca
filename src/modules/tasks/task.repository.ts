import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { TaskExample } from '../../icm/task-suite.js';

export const TASK_STATUSES = ['created', 'training', 'trained', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/**
 * Optional part labels of a task: `content` = what the answer is (the fact asked for), `format` =
 * how it is written. The compose generator trains on them as its mapping and template.
 */
export interface TaskParts {
  content: string;
  format: string;
}

/** A task row. */
export interface TaskRow {
  id: string;
  name: string;
  description: string;
  examples: TaskExample[];
  trainingData: TaskExample[];
  parts: TaskParts | null;
  status: TaskStatus;
  adapterId: string | null;
  /** [dModel] once trained. */
  condition: number[] | null;
  conditionSha256: string | null;
  jobId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A stored checkpoint of a task's training run. */
export interface TaskCheckpointRow {
  adapterId: string;
  taskId: string;
  step: number;
  sha256: string;
  bytes: Buffer;
}

const COLUMNS = `id, name, description, examples, training_data AS "trainingData", parts, status, adapter_id AS "adapterId",
  condition, condition_sha256 AS "conditionSha256", job_id AS "jobId", created_at AS "createdAt", updated_at AS "updatedAt"`;

/** sha256 of a condition vector's float32 bytes: the lineage's condition hash. */
export function conditionHash(condition: ArrayLike<number>): string {
  const f = Float32Array.from(condition);
  return createHash('sha256').update(Buffer.from(f.buffer, f.byteOffset, f.byteLength)).digest('hex');
}

/** Named queries over `task` and `task_checkpoint` (raw SQL, explicit columns). */
@Injectable()
export class TaskRepository {
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}

  private q(m?: EntityManager): { query: (sql: string, params?: unknown[]) => Promise<any> } {
    return m ?? this.ds;
  }

  async insert(row: Pick<TaskRow, 'id' | 'name' | 'description' | 'examples' | 'trainingData'> & { parts?: TaskParts | null }, m?: EntityManager): Promise<TaskRow> {
    const rows: TaskRow[] = await this.q(m).query(
      `INSERT INTO task (id, name, description, examples, training_data, parts, status) VALUES ($1, $2, $3, $4, $5, $6, 'created') RETURNING ${COLUMNS}`,
      [row.id, row.name, row.description, JSON.stringify(row.examples), JSON.stringify(row.trainingData), row.parts ? JSON.stringify(row.parts) : null],
    );
    return normalise(rows[0]);
  }

  async findById(id: string, m?: EntityManager): Promise<TaskRow | null> {
    const rows: TaskRow[] = await this.q(m).query(`SELECT ${COLUMNS} FROM task WHERE id = $1`, [id]);
    return rows[0] ? normalise(rows[0]) : null;
  }

  async findByName(name: string): Promise<TaskRow | null> {
    const rows: TaskRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM task WHERE name = $1`, [name]);
    return rows[0] ? normalise(rows[0]) : null;
  }

  async list(limit: number, offset: number): Promise<{ items: TaskRow[]; total: number }> {
    const rows: TaskRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM task ORDER BY created_at DESC, id LIMIT $1 OFFSET $2`, [limit, offset]);
    const [{ n }] = await this.ds.query(`SELECT count(*)::int AS n FROM task`);
    return { items: rows.map(normalise), total: n };
  }

  /** Trained tasks (with their condition and adapter), oldest first. */
  async trained(): Promise<TaskRow[]> {
    const rows: TaskRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM task WHERE status = 'trained' AND adapter_id IS NOT NULL ORDER BY created_at, id`);
    return rows.map(normalise);
  }

  /** Trained tasks that carry part labels (the compose generator's training set), oldest first. */
  async trainedWithParts(): Promise<TaskRow[]> {
    const rows: TaskRow[] = await this.ds.query(
      `SELECT ${COLUMNS} FROM task WHERE status = 'trained' AND adapter_id IS NOT NULL AND parts IS NOT NULL ORDER BY created_at, id`,
    );
    return rows.map(normalise);
  }

  async setStatus(id: string, status: TaskStatus, jobId: string | null, m?: EntityManager): Promise<void> {
    await this.q(m).query(`UPDATE task SET status = $2, job_id = COALESCE($3, job_id), updated_at = now() WHERE id = $1`, [id, status, jobId]);
  }

  async markTrained(id: string, adapterId: string, condition: Float32Array, m?: EntityManager): Promise<void> {
    await this.q(m).query(
      `UPDATE task SET status = 'trained', adapter_id = $2, condition = $3, condition_sha256 = $4, updated_at = now() WHERE id = $1`,
      [id, adapterId, Array.from(condition), conditionHash(condition)],
    );
  }

  /** Replaces the checkpoint set of one training run (idempotent when a job is retried). */
  async replaceCheckpoints(taskId: string, adapterId: string, checkpoints: { step: number; bytes: Uint8Array }[], m?: EntityManager): Promise<void> {
    await this.q(m).query(`DELETE FROM task_checkpoint WHERE adapter_id = $1`, [adapterId]);
    for (const c of checkpoints) {
      const bytes = Buffer.from(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength);
      const sha = createHash('sha256').update(bytes).digest('hex');
      await this.q(m).query(
        `INSERT INTO task_checkpoint (adapter_id, step, task_id, sha256, bytes, size_bytes) VALUES ($1, $2, $3, $4, $5, $6)`,
        [adapterId, c.step, taskId, sha, bytes, bytes.length],
      );
    }
  }

  /** A run's checkpoints, oldest step first, each re-hashed (a mismatch throws). */
  async checkpoints(adapterId: string): Promise<TaskCheckpointRow[]> {
    const rows: TaskCheckpointRow[] = await this.ds.query(
      `SELECT adapter_id AS "adapterId", task_id AS "taskId", step, sha256, bytes FROM task_checkpoint WHERE adapter_id = $1 ORDER BY step`,
      [adapterId],
    );
    for (const r of rows) {
      const actual = createHash('sha256').update(r.bytes).digest('hex');
      if (actual !== r.sha256) throw new Error(`task checkpoint ${adapterId}@${r.step} is corrupt`);
    }
    return rows;
  }

  /** The adapter a job already created (a retried job reuses it), if it is still training. */
  async trainingAdapterOfJob(jobId: string): Promise<string | null> {
    const rows: { id: string }[] = await this.ds.query(
      `SELECT id FROM adapter WHERE status = 'training' AND lineage->>'jobId' = $1 ORDER BY created_at DESC LIMIT 1`,
      [jobId],
    );
    return rows[0]?.id ?? null;
  }

  async checkpointStats(adapterId: string): Promise<{ count: number; bytes: number; steps: number[] }> {
    const rows: { step: number; size: number }[] = await this.ds.query(
      `SELECT step, size_bytes AS size FROM task_checkpoint WHERE adapter_id = $1 ORDER BY step`,
      [adapterId],
    );
    return { count: rows.length, bytes: rows.reduce((n, r) => n + Number(r.size), 0), steps: rows.map((r) => r.step) };
  }
}

function normalise(r: TaskRow): TaskRow {
  return { ...r, condition: r.condition ? r.condition.map(Number) : null };
}
