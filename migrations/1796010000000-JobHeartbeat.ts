import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 12: one row per running job, beaten every few seconds by the worker that runs it. A job
 * whose row stops moving (the worker was SIGKILLed, its host died) is failed through pg-boss so
 * its retry policy applies, instead of staying `active` until its expiry. `worker_name` is stable
 * across restarts (hostname by default), `instance` is one process's random id: a restarted
 * process recognises its previous incarnation's jobs by the name.
 */
export class JobHeartbeat1796010000000 implements MigrationInterface {
  name = 'JobHeartbeat1796010000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE job_heartbeat (
        job_id uuid PRIMARY KEY,
        name text NOT NULL,
        worker_name text NOT NULL,
        instance text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        beat_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX job_heartbeat_beat_at_idx ON job_heartbeat (beat_at)`);
    await q.query(`CREATE INDEX job_heartbeat_instance_idx ON job_heartbeat (instance)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE job_heartbeat`);
  }
}
