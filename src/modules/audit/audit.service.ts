import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { verifyChain, type ChainedAuditEvent, type ChainVerdict } from './audit-chain.js';
import { AuditRepository, type AuditFilter } from './audit.repository.js';

/** What happened, who did it (an API key id, or `system`), to what (`adapter:<id>`...). */
export interface AuditRecordInput {
  actor: string;
  action: string;
  subject: string;
  details?: Record<string, unknown>;
}

/** Subject string for an entity: `adapter:<id>`, `api_key:<id>`. */
export const auditSubject = (kind: string, id: string): string => `${kind}:${id}`;

/** The tamper-evident audit log (DESIGN §6). Every state change goes through record(). */
@Injectable()
export class AuditService {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(AuditRepository) private readonly repo: AuditRepository,
  ) {}

  /**
   * Appends an event to the chain. Pass the caller's transaction `manager` so the event commits
   * or rolls back with the change it records; without one it runs in its own transaction.
   * The manager's transaction must be READ COMMITTED (the default).
   */
  async record(input: AuditRecordInput, manager?: EntityManager): Promise<ChainedAuditEvent> {
    // Round-trip details through JSON now so the hash covers exactly what jsonb will return.
    const details = JSON.parse(JSON.stringify(input.details ?? {})) as Record<string, unknown>;
    const content = { at: new Date().toISOString(), actor: input.actor, action: input.action, subject: input.subject, details };
    if (manager?.queryRunner?.isTransactionActive) return this.repo.append(manager, content);
    return this.ds.transaction((m) => this.repo.append(m, content));
  }

  /** Events matching the filter in seq order; `nextCursor` is the `after` for the next page. */
  async list(filter: AuditFilter): Promise<{ items: ChainedAuditEvent[]; nextCursor: number | null }> {
    const items = await this.repo.find(filter);
    return { items, nextCursor: items.length === filter.limit ? items[items.length - 1].seq : null };
  }

  /** Recomputes the whole chain from the stored columns. */
  async verify(): Promise<ChainVerdict> {
    const events: ChainedAuditEvent[] = [];
    for await (const page of this.repo.all()) events.push(...page);
    return verifyChain(events);
  }
}
