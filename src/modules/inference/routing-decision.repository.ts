import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { RoutingPlan } from '../../routing/routing-types.js';

/** A routing decision as stored. */
export interface RoutingDecisionRecord {
  id: string;
  requestId: string;
  /** The OpenAI endpoint the request came through. */
  endpoint: 'completions' | 'chat.completions';
  promptIndex: number;
  apiKeyId: string | null;
  model: string;
  mode: string;
  plan: RoutingPlan;
  adapterIds: string[];
  registryVersion: number;
  policy: string;
  latencyMs: number;
  promptTokens: number;
  completionTokens: number;
  createdAt: string;
}

export type NewRoutingDecision = Omit<RoutingDecisionRecord, 'id' | 'createdAt'>;

export interface RoutingDecisionFilter {
  adapterId?: string;
  apiKeyId?: string;
  requestId?: string;
  endpoint?: RoutingDecisionRecord['endpoint'];
  since?: Date;
  until?: Date;
  limit: number;
  offset: number;
}

interface Row {
  id: string;
  request_id: string;
  endpoint: RoutingDecisionRecord['endpoint'];
  prompt_index: number;
  api_key_id: string | null;
  model: string;
  mode: string;
  plan: RoutingPlan;
  adapter_ids: string[];
  registry_version: string;
  policy: string;
  latency_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  created_at: Date;
}

/** Rows one INSERT of the write-behind queue carries at most (13 parameters each, under Postgres's 65,535). */
const WRITE_BATCH_ROWS = 500;

/**
 * Named queries over `routing_decision`. Completions record their decisions through `enqueue`:
 * written off the request path by one writer that takes every row queued while the previous INSERT
 * ran (one statement per batch, so under load a write costs the service one round trip per batch,
 * not per request). Reads (`list`) wait for the queue first, so a client that got its answer finds
 * its decision; shutdown waits for it too.
 */
@Injectable()
export class RoutingDecisionRepository implements OnModuleDestroy {
  private readonly log = new Logger('RoutingDecisions');
  private pending: NewRoutingDecision[] = [];
  private writing: Promise<void> | null = null;

  constructor(@Inject(DataSource) private readonly ds: DataSource) {}

  /** Queues decisions for the writer (starts it when idle); failures are logged, never thrown. */
  enqueue(rows: NewRoutingDecision[]): void {
    if (rows.length === 0) return;
    this.pending.push(...rows);
    this.writing ??= this.drain();
  }

  /** Resolves once every decision queued before the call is written (or its write failed and was logged). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Decisions queued and not yet written (metrics, tests). */
  get queued(): number {
    return this.pending.length;
  }

  async onModuleDestroy(): Promise<void> {
    await this.flush();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, WRITE_BATCH_ROWS);
        try {
          await this.insertMany(batch);
        } catch (e) {
          // The answers were sent; losing their records is logged, not retried into a growing queue.
          this.log.error(`could not record ${batch.length} routing decision(s) (${batch[0].requestId}...): ${(e as Error).message}`);
        }
      }
    } finally {
      this.writing = null;
    }
  }

  async insertMany(rows: NewRoutingDecision[]): Promise<void> {
    if (rows.length === 0) return;
    const values: unknown[] = [];
    const tuples = rows.map((r, i) => {
      values.push(r.requestId, r.promptIndex, r.apiKeyId, r.model, r.mode, JSON.stringify(r.plan), r.adapterIds, r.registryVersion, r.policy, r.latencyMs, r.promptTokens, r.completionTokens, r.endpoint);
      const b = i * 13;
      return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}::jsonb, $${b + 7}::uuid[], $${b + 8}, $${b + 9}, $${b + 10}, $${b + 11}, $${b + 12}, $${b + 13})`;
    });
    await this.ds.query(
      `INSERT INTO routing_decision (request_id, prompt_index, api_key_id, model, mode, plan, adapter_ids, registry_version, policy, latency_ms, prompt_tokens, completion_tokens, endpoint)
       VALUES ${tuples.join(', ')}`,
      values,
    );
  }

  /** Newest first, with the total count of matches. */
  async list(f: RoutingDecisionFilter): Promise<{ items: RoutingDecisionRecord[]; total: number }> {
    await this.flush();
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (f.adapterId) add('adapter_ids @> ARRAY[?]::uuid[]', f.adapterId);
    if (f.apiKeyId) add('api_key_id = ?', f.apiKeyId);
    if (f.requestId) add('request_id = ?', f.requestId);
    if (f.endpoint) add('endpoint = ?', f.endpoint);
    if (f.since) add('created_at >= ?', f.since);
    if (f.until) add('created_at < ?', f.until);
    const w = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const [{ n }]: Array<{ n: string }> = await this.ds.query(`SELECT count(*) AS n FROM routing_decision ${w}`, params);
    const rows: Row[] = await this.ds.query(
      `SELECT id, request_id, endpoint, prompt_index, api_key_id, model, mode, plan, adapter_ids, registry_version, policy, latency_ms,
              prompt_tokens, completion_tokens, created_at
         FROM routing_decision ${w} ORDER BY created_at DESC, id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, f.limit, f.offset],
    );
    return { items: rows.map(mapRow), total: Number(n) };
  }
}

function mapRow(r: Row): RoutingDecisionRecord {
  return {
    id: r.id,
    requestId: r.request_id,
    endpoint: r.endpoint,
    promptIndex: r.prompt_index,
    apiKeyId: r.api_key_id,
    model: r.model,
    mode: r.mode,
    plan: r.plan,
    adapterIds: typeof r.adapter_ids === 'string' ? parsePgArray(r.adapter_ids) : r.adapter_ids,
    registryVersion: Number(r.registry_version),
    policy: r.policy,
    latencyMs: r.latency_ms,
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
    createdAt: new Date(r.created_at).toISOString(),
  };
}

/** `{a,b}` → ['a', 'b'] (uuid[] arrives as text where the driver has no array parser for it). */
function parsePgArray(text: string): string[] {
  const inner = text.replace(/^\{|\}$/g, '');
  return inner === '' ? [] : inner.split(',');
}
