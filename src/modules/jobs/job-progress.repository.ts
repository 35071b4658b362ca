import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { JobProgressUpdate } from './job-handler.js';

export const JOB_PROGRESS_STATES = ['queued', 'active', 'retry', 'completed', 'failed', 'cancelled'] as const;
export type JobProgressState = (typeof JOB_PROGRESS_STATES)[number];

/** One row of job_progress. */
export interface JobProgressRow {
  jobId: string;
  name: string;
  subject: string | null;
  state: JobProgressState;
  phase: string | null;
  step: number | null;
  total: number | null;
  loss: number | null;
  etaSeconds: number | null;
  message: string | null;
  attempt: number;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `job_id AS "jobId", name, subject, state, phase, step, total, loss, eta_seconds AS "etaSeconds",
  message, attempt, created_at AS "createdAt", updated_at AS "updatedAt"`;

/** A write: identity, state, and whatever progress fields are known (absent ones stay as they are). */
export interface JobProgressWrite extends JobProgressUpdate {
  jobId: string;
  name: string;
  subject: string | null;
  state: JobProgressState;
  attempt?: number;
}

/** Named queries over job_progress (raw SQL: the table is ours, not an entity anyone else maps). */
@Injectable()
export class JobProgressRepository {
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}

  /** Records a freshly enqueued job unless its worker got to it first. */
  async insertQueued(jobId: string, name: string, subject: string | null): Promise<void> {
    await this.ds.query(
      `INSERT INTO job_progress (job_id, name, subject, state) VALUES ($1, $2, $3, 'queued') ON CONFLICT (job_id) DO NOTHING`,
      [jobId, name, subject],
    );
  }

  /** Upserts state and progress; fields left undefined keep their stored value. */
  async write(w: JobProgressWrite): Promise<void> {
    await this.ds.query(
      `INSERT INTO job_progress (job_id, name, subject, state, phase, step, total, loss, eta_seconds, message, attempt)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, COALESCE($11, 0))
       ON CONFLICT (job_id) DO UPDATE SET
         state = EXCLUDED.state,
         phase = COALESCE($5, job_progress.phase),
         step = COALESCE($6, job_progress.step),
         total = COALESCE($7, job_progress.total),
         loss = COALESCE($8, job_progress.loss),
         eta_seconds = CASE WHEN EXCLUDED.state IN ('completed', 'failed', 'cancelled') THEN NULL
                            ELSE COALESCE($9, job_progress.eta_seconds) END,
         message = COALESCE($10, job_progress.message),
         attempt = COALESCE($11, job_progress.attempt),
         updated_at = now()`,
      [
        w.jobId,
        w.name,
        w.subject,
        w.state,
        w.phase ?? null,
        w.step ?? null,
        w.total ?? null,
        w.loss ?? null,
        w.etaSeconds ?? null,
        w.message ?? null,
        w.attempt ?? null,
      ],
    );
  }

  async find(jobId: string): Promise<JobProgressRow | null> {
    const rows: JobProgressRow[] = await this.ds.query(`SELECT ${COLUMNS} FROM job_progress WHERE job_id = $1`, [jobId]);
    return rows[0] ?? null;
  }

  /** Progress rows about `subject`, newest first. */
  async findBySubject(subject: string, limit = 20): Promise<JobProgressRow[]> {
    return this.ds.query(`SELECT ${COLUMNS} FROM job_progress WHERE subject = $1 ORDER BY updated_at DESC LIMIT $2`, [subject, limit]);
  }

  /** Deletes rows of finished jobs last updated more than `olderThanDays` ago; returns how many. */
  async pruneFinished(olderThanDays: number): Promise<number> {
    // A CTE so the command is a SELECT: TypeORM reshapes DELETE results into [rows, count].
    const rows: { n: number }[] = await this.ds.query(
      `WITH d AS (DELETE FROM job_progress WHERE state IN ('completed', 'failed', 'cancelled')
         AND updated_at < now() - make_interval(days => $1) RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
      [olderThanDays],
    );
    return rows[0]?.n ?? 0;
  }
}
