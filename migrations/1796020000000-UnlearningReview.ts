import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 11: a request whose activation checks fail ends `needs_review` with its adapter and
 * detector stored but inactive (an admin activates or revokes it), and a request may bring its own
 * reference prompts for the checks (deleted with the raw items unless keepData).
 */
export class UnlearningReview1796020000000 implements MigrationInterface {
  name = 'UnlearningReview1796020000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE unlearning_request DROP CONSTRAINT unlearning_request_status_check`);
    await q.query(`
      ALTER TABLE unlearning_request ADD CONSTRAINT unlearning_request_status_check
        CHECK (status IN ('queued', 'training', 'calibrating', 'evaluating', 'active', 'needs_review', 'failed', 'revoked'))`);
    await q.query(`ALTER TABLE unlearning_request ADD COLUMN reference_prompts jsonb`);
    await q.query(`ALTER TABLE ood_detector DROP CONSTRAINT ood_detector_status_check`);
    await q.query(`ALTER TABLE ood_detector ADD CONSTRAINT ood_detector_status_check CHECK (status IN ('active', 'inactive', 'revoked'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    // Requests still waiting for review cannot be represented before this migration: revoked.
    await q.query(`UPDATE ood_detector SET status = 'revoked' WHERE status = 'inactive'`);
    await q.query(`ALTER TABLE ood_detector DROP CONSTRAINT ood_detector_status_check`);
    await q.query(`ALTER TABLE ood_detector ADD CONSTRAINT ood_detector_status_check CHECK (status IN ('active', 'revoked'))`);
    await q.query(`ALTER TABLE unlearning_request DROP COLUMN reference_prompts`);
    await q.query(`UPDATE unlearning_request SET status = 'revoked' WHERE status = 'needs_review'`);
    await q.query(`ALTER TABLE unlearning_request DROP CONSTRAINT unlearning_request_status_check`);
    await q.query(`
      ALTER TABLE unlearning_request ADD CONSTRAINT unlearning_request_status_check
        CHECK (status IN ('queued', 'training', 'calibrating', 'evaluating', 'active', 'failed', 'revoked'))`);
  }
}
