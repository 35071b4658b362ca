import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 2: progress of background jobs, written by JobContext.progress(). pg-boss keeps the queue
 * itself (schema pgboss, created by pg-boss); this table is ours so the API can show progress of a
 * job by id or by subject without reading pg-boss internals.
 */
export class JobProgress1795909651326 implements MigrationInterface {
  name = 'JobProgress1795909651326';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE job_progress (
        job_id uuid PRIMARY KEY,
        name text NOT NULL,
        subject text,
        state text NOT NULL CONSTRAINT job_progress_state_check
          CHECK (state IN ('queued', 'active', 'retry', 'completed', 'failed', 'cancelled')),
        phase text,
        step integer CONSTRAINT job_progress_step_check CHECK (step IS NULL OR step >= 0),
        total integer CONSTRAINT job_progress_total_check CHECK (total IS NULL OR total >= 0),
        loss double precision,
        eta_seconds double precision,
        message text,
        attempt integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX job_progress_subject_idx ON job_progress (subject, updated_at DESC)`);
    await q.query(`CREATE INDEX job_progress_name_state_idx ON job_progress (name, state)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE job_progress`);
  }
}
