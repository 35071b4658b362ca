import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 14: routing decisions say which OpenAI endpoint the request came through
 * (`completions` or `chat.completions`), so the console and the decision search can show and
 * filter chat requests. Earlier rows were all completions.
 */
export class RoutingDecisionEndpoint1796031400000 implements MigrationInterface {
  name = 'RoutingDecisionEndpoint1796031400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE routing_decision
        ADD COLUMN endpoint text NOT NULL DEFAULT 'completions'
        CONSTRAINT routing_decision_endpoint_check CHECK (endpoint IN ('completions', 'chat.completions'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE routing_decision DROP COLUMN endpoint`);
  }
}
