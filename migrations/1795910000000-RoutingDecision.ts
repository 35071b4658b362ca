import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 5: routing decisions on record. One row per routed prompt (sampled by
 * LETHE_ROUTING_SAMPLE_RATE, always for admins): the plan as returned to the client, the adapters it
 * names (for the adapter filter), the registry version and gate policy it used, and the latency.
 */
export class RoutingDecision1795910000000 implements MigrationInterface {
  name = 'RoutingDecision1795910000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE routing_decision (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        request_id text NOT NULL,
        prompt_index integer NOT NULL DEFAULT 0,
        api_key_id uuid,
        model text NOT NULL,
        mode text NOT NULL CONSTRAINT routing_decision_mode_check CHECK (mode IN ('auto', 'manual', 'none')),
        plan jsonb NOT NULL,
        adapter_ids uuid[] NOT NULL DEFAULT '{}',
        registry_version bigint NOT NULL,
        policy text NOT NULL,
        latency_ms double precision NOT NULL,
        prompt_tokens integer NOT NULL DEFAULT 0,
        completion_tokens integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX routing_decision_created_idx ON routing_decision (created_at DESC, id)`);
    await q.query(`CREATE INDEX routing_decision_api_key_idx ON routing_decision (api_key_id, created_at DESC)`);
    await q.query(`CREATE INDEX routing_decision_request_idx ON routing_decision (request_id)`);
    await q.query(`CREATE INDEX routing_decision_adapters_idx ON routing_decision USING gin (adapter_ids)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE routing_decision`);
  }
}
