import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 15, service: the compose generator.
 * - `task.parts`: optional part labels of a task (`{content, format}`: what the answer is, how it is
 *   written), the compose generator's mapping and template when it is trained on the user's tasks.
 * - `generator.source`: where a version that no job trained comes from (`shipped with the model`);
 *   such a version has no job, so `job_id` becomes nullable (one of the two is always set). A
 *   shipped file is registered once: unique sha256 among versions without a job, so two replicas
 *   that start together cannot both register it.
 */
export class ComposeGenerator1796426396883 implements MigrationInterface {
  name = 'ComposeGenerator1796426396883';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE task ADD COLUMN parts jsonb`);
    await q.query(`ALTER TABLE generator ALTER COLUMN job_id DROP NOT NULL`);
    await q.query(`ALTER TABLE generator ADD COLUMN source text`);
    await q.query(`ALTER TABLE generator ADD CONSTRAINT generator_job_or_source_check CHECK (job_id IS NOT NULL OR source IS NOT NULL)`);
    await q.query(`CREATE UNIQUE INDEX generator_registered_sha256_key ON generator (sha256) WHERE job_id IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX generator_registered_sha256_key`);
    await q.query(`DELETE FROM generator WHERE job_id IS NULL`);
    await q.query(`ALTER TABLE generator DROP CONSTRAINT generator_job_or_source_check`);
    await q.query(`ALTER TABLE generator DROP COLUMN source`);
    await q.query(`ALTER TABLE generator ALTER COLUMN job_id SET NOT NULL`);
    await q.query(`ALTER TABLE task DROP COLUMN parts`);
  }
}
