import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 4: unlearning requests and their OOD detectors. Raw items live in `items` only until the
 * job ends (nulled unless keepData); `items_sha256` and `item_count` stay for the audit.
 */
export class Unlearning1795930000000 implements MigrationInterface {
  name = 'Unlearning1795930000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE unlearning_request (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL,
        status text NOT NULL CONSTRAINT unlearning_request_status_check
          CHECK (status IN ('queued', 'training', 'calibrating', 'evaluating', 'active', 'failed', 'revoked')),
        relabel text NOT NULL CONSTRAINT unlearning_request_relabel_check
          CHECK (relabel IN ('refusal', 'random-option', 'replacement')),
        replacement text,
        options jsonb NOT NULL DEFAULT '{}'::jsonb,
        items jsonb,
        items_sha256 char(64) NOT NULL,
        item_count integer NOT NULL CONSTRAINT unlearning_request_item_count_check CHECK (item_count >= 1),
        progress jsonb NOT NULL DEFAULT '{}'::jsonb,
        adapter_id uuid CONSTRAINT unlearning_request_adapter_fk REFERENCES adapter (id),
        detector_id uuid,
        metrics jsonb,
        error text,
        idempotency_key text,
        actor text NOT NULL,
        job_id uuid,
        attempts integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
      )`);
    await q.query(
      `CREATE UNIQUE INDEX unlearning_request_idempotency_idx ON unlearning_request (actor, idempotency_key) WHERE idempotency_key IS NOT NULL`,
    );
    await q.query(`CREATE INDEX unlearning_request_status_idx ON unlearning_request (status, created_at DESC)`);
    await q.query(`CREATE INDEX unlearning_request_created_idx ON unlearning_request (created_at DESC, id)`);
    await q.query(`
      CREATE TABLE ood_detector (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        request_id uuid NOT NULL CONSTRAINT ood_detector_request_fk REFERENCES unlearning_request (id),
        adapter_id uuid NOT NULL CONSTRAINT ood_detector_adapter_fk REFERENCES adapter (id),
        status text NOT NULL CONSTRAINT ood_detector_status_check CHECK (status IN ('active', 'revoked')),
        bytes bytea NOT NULL,
        sha256 char(64) NOT NULL,
        size_bytes bigint NOT NULL,
        metrics jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX ood_detector_adapter_idx ON ood_detector (adapter_id)`);
    await q.query(`CREATE INDEX ood_detector_status_idx ON ood_detector (status)`);
    await q.query(`
      ALTER TABLE unlearning_request ADD CONSTRAINT unlearning_request_detector_fk
        FOREIGN KEY (detector_id) REFERENCES ood_detector (id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE unlearning_request DROP CONSTRAINT unlearning_request_detector_fk`);
    await q.query(`DROP TABLE ood_detector`);
    await q.query(`DROP TABLE unlearning_request`);
  }
}
