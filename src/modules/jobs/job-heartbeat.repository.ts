import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** A job_heartbeat row whose worker looks gone. */
export interface AbandonedJobRow {
  jobId: string;
  name: string;
  workerName: string;
  instance: string;
  /** Seconds since its last beat, by the database clock. */
  silentSeconds: number;
}

/**
 * Named queries over job_heartbeat (raw SQL, like job_progress). Every time is the database's
 * `now()`, so workers on hosts with skewed clocks still agree on who is silent. UPDATE and DELETE
 * run inside a CTE so the command is a SELECT (TypeORM reshapes their results otherwise).
 */
@Injectable()
export class JobHeartbeatRepository {
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}

  /** This instance runs `jobId` now (a retry takes the row over from the previous owner). */
  async claim(jobId: string, name: string, workerName: string, instance: string): Promise<void> {
    await this.ds.query(
      `INSERT INTO job_heartbeat (job_id, name, worker_name, instance) VALUES ($1, $2, $3, $4)
       ON CONFLICT (job_id) DO UPDATE SET name = EXCLUDED.name, worker_name = EXCLUDED.worker_name,
         instance = EXCLUDED.instance, started_at = now(), beat_at = now()`,
      [jobId, name, workerName, instance],
    );
  }

  /** Beats the rows of `jobIds` this instance still owns; returns those ids (the others were taken). */
  async beat(instance: string, jobIds: readonly string[]): Promise<string[]> {
    if (jobIds.length === 0) return [];
    const rows: { jobId: string }[] = await this.ds.query(
      `WITH u AS (UPDATE job_heartbeat SET beat_at = now() WHERE instance = $1 AND job_id = ANY($2::uuid[]) RETURNING job_id)
       SELECT job_id AS "jobId" FROM u`,
      [instance, jobIds],
    );
    return rows.map((r) => r.jobId);
  }

  /** The job ended here (completed, failed, handed back): its row goes. */
  async release(jobId: string, instance: string): Promise<void> {
    await this.ds.query(`WITH d AS (DELETE FROM job_heartbeat WHERE job_id = $1 AND instance = $2 RETURNING 1) SELECT count(*)::int AS n FROM d`, [
      jobId,
      instance,
    ]);
  }

  /**
   * Rows of other instances that look abandoned: silent for `staleSeconds`, or silent for
   * `restartSeconds` and owned by an earlier process with this worker name (a live process beats
   * every heartbeat, so two missed beats under the same name mean a previous incarnation).
   */
  async findAbandoned(q: { instance: string; workerName: string; staleSeconds: number; restartSeconds: number }): Promise<AbandonedJobRow[]> {
    return this.ds.query(
      `SELECT job_id AS "jobId", name, worker_name AS "workerName", instance,
         extract(epoch FROM now() - beat_at)::float8 AS "silentSeconds"
       FROM job_heartbeat
       WHERE instance <> $1
         AND (beat_at < now() - make_interval(secs => $3) OR (worker_name = $2 AND beat_at < now() - make_interval(secs => $4)))
       ORDER BY beat_at`,
      [q.instance, q.workerName, q.staleSeconds, q.restartSeconds],
    );
  }

  /**
   * Takes an abandoned row away from `instance` (deletes it) unless someone else did first or the
   * owner beat it meanwhile: true means this caller recovers the job, and nobody else will.
   */
  async take(jobId: string, instance: string, silentForSeconds: number): Promise<boolean> {
    const rows: { n: number }[] = await this.ds.query(
      `WITH d AS (DELETE FROM job_heartbeat WHERE job_id = $1 AND instance = $2 AND beat_at < now() - make_interval(secs => $3) RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
      [jobId, instance, silentForSeconds],
    );
    return (rows[0]?.n ?? 0) > 0;
  }

  /** Job ids among `jobIds` that have a row (for the orphan sweep: active jobs nobody beats). */
  async withRows(jobIds: readonly string[]): Promise<Set<string>> {
    if (jobIds.length === 0) return new Set();
    const rows: { jobId: string }[] = await this.ds.query(`SELECT job_id AS "jobId" FROM job_heartbeat WHERE job_id = ANY($1::uuid[])`, [jobIds]);
    return new Set(rows.map((r) => r.jobId));
  }
}
