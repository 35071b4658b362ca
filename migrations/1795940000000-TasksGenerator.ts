import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 6: task adapters and the ICM-LoRA generator. `task` holds a task's definition and its
 * condition vector once trained; `task_checkpoint` the kept checkpoints of each training run (PEFT
 * safetensors bytes, the generator's training set); `generator` one row per trained version with
 * its metrics and serialised weights.
 */
export class TasksGenerator1795940000000 implements MigrationInterface {
  name = 'TasksGenerator1795940000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE task (
        id uuid PRIMARY KEY,
        name text NOT NULL CONSTRAINT task_name_key UNIQUE,
        description text NOT NULL,
        examples jsonb NOT NULL,
        training_data jsonb NOT NULL,
        status text NOT NULL CONSTRAINT task_status_check CHECK (status IN ('created', 'training', 'trained', 'failed')),
        adapter_id uuid CONSTRAINT task_adapter_fk REFERENCES adapter (id),
        condition real[],
        condition_sha256 char(64),
        job_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE task_checkpoint (
        adapter_id uuid NOT NULL CONSTRAINT task_checkpoint_adapter_fk REFERENCES adapter (id),
        step integer NOT NULL CONSTRAINT task_checkpoint_step_check CHECK (step >= 0),
        task_id uuid NOT NULL CONSTRAINT task_checkpoint_task_fk REFERENCES task (id) ON DELETE CASCADE,
        sha256 char(64) NOT NULL,
        bytes bytea NOT NULL,
        size_bytes integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT task_checkpoint_pkey PRIMARY KEY (adapter_id, step)
      )`);
    await q.query(`CREATE INDEX task_checkpoint_task_idx ON task_checkpoint (task_id)`);
    await q.query(`
      CREATE TABLE generator (
        id uuid PRIMARY KEY,
        version integer NOT NULL CONSTRAINT generator_version_key UNIQUE,
        status text NOT NULL CONSTRAINT generator_status_check CHECK (status IN ('training', 'ready', 'failed')),
        job_id uuid NOT NULL CONSTRAINT generator_job_key UNIQUE,
        options jsonb NOT NULL DEFAULT '{}',
        metrics jsonb NOT NULL DEFAULT '{}',
        sha256 char(64),
        bytes bytea,
        size_bytes bigint NOT NULL DEFAULT 0,
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX generator_status_version_idx ON generator (status, version DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE generator`);
    await q.query(`DROP TABLE task_checkpoint`);
    await q.query(`DROP TABLE task`);
  }
}
