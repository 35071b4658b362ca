import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Issue 2: API keys, the hash-chained audit log (append-only by trigger), the adapter registry. */
export class Foundation1795909606906 implements MigrationInterface {
  name = 'Foundation1795909606906';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_key (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL,
        role text NOT NULL CONSTRAINT api_key_role_check CHECK (role IN ('admin', 'operator', 'client')),
        prefix text NOT NULL,
        hash char(64) NOT NULL CONSTRAINT api_key_hash_unique UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        last_used_at timestamptz
      )`);
    await q.query(`CREATE INDEX api_key_prefix_idx ON api_key (prefix)`);

    // seq is assigned max+1 under an advisory lock (not from a sequence) so the chain is gap-free:
    // a gap can only mean a removed row.
    await q.query(`
      CREATE TABLE audit_event (
        seq bigint PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        subject text NOT NULL,
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        prev_hash char(64) NOT NULL,
        hash char(64) NOT NULL
      )`);
    await q.query(`CREATE INDEX audit_event_actor_idx ON audit_event (actor, seq)`);
    await q.query(`CREATE INDEX audit_event_action_idx ON audit_event (action, seq)`);
    await q.query(`CREATE INDEX audit_event_subject_idx ON audit_event (subject, seq)`);
    await q.query(`CREATE INDEX audit_event_at_idx ON audit_event (at)`);
    await q.query(`
      CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_event
      FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()`);
    await q.query(`
      CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
      FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()`);

    await q.query(`
      CREATE TABLE adapter_blob (
        sha256 char(64) PRIMARY KEY,
        bytes bytea NOT NULL,
        size_bytes bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE adapter (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL,
        kind text NOT NULL CONSTRAINT adapter_kind_check CHECK (kind IN ('unlearning', 'task', 'generated', 'imported')),
        status text NOT NULL CONSTRAINT adapter_status_check
          CHECK (status IN ('training', 'inactive', 'active', 'revoked', 'failed')),
        version integer NOT NULL CONSTRAINT adapter_version_check CHECK (version >= 1),
        base_model text NOT NULL,
        rank integer NOT NULL CONSTRAINT adapter_rank_check CHECK (rank >= 1),
        alpha double precision NOT NULL,
        target_modules text[] NOT NULL DEFAULT '{}',
        blob_sha256 char(64) CONSTRAINT adapter_blob_fk REFERENCES adapter_blob (sha256),
        size_bytes bigint NOT NULL DEFAULT 0,
        lineage jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT adapter_name_version_unique UNIQUE (name, version)
      )`);
    await q.query(`CREATE INDEX adapter_kind_status_idx ON adapter (kind, status)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE adapter`);
    await q.query(`DROP TABLE adapter_blob`);
    await q.query(`DROP TABLE audit_event`);
    await q.query(`DROP FUNCTION audit_event_append_only()`);
    await q.query(`DROP TABLE api_key`);
  }
}
