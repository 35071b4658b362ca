import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 12: the request hash behind `Idempotency-Key` (a reused key with another body is refused),
 * and server secrets shared by every replica (the audit head signing key when
 * LETHE_AUDIT_SIGNING_KEY is unset).
 */
export class ReliabilitySecurity1796000000000 implements MigrationInterface {
  name = 'ReliabilitySecurity1796000000000';

  async up(q: QueryRunner): Promise<void> {
    // Null for requests stored before this migration: their key cannot be checked against a body.
    await q.query(`ALTER TABLE unlearning_request ADD COLUMN request_sha256 char(64)`);
    await q.query(`
      CREATE TABLE server_secret (
        name text PRIMARY KEY,
        value bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE server_secret`);
    await q.query(`ALTER TABLE unlearning_request DROP COLUMN request_sha256`);
  }
}
