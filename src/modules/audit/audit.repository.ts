import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { chainNext, type AuditEventContent, type ChainedAuditEvent } from './audit-chain.js';
import { AuditEventEntity } from './audit-event.entity.js';

/** Key of the transaction-scoped advisory lock that serialises appends. */
const AUDIT_LOCK_KEY = 7435002;

export interface AuditFilter {
  actor?: string;
  action?: string;
  subject?: string;
  /** Inclusive lower bound on `at`. */
  from?: Date;
  /** Exclusive upper bound on `at`. */
  to?: Date;
  /** Cursor: only events with seq > after. */
  after?: number;
  limit: number;
}

/** Named queries over `audit_event`; the only code that touches the table. */
@Injectable()
export class AuditRepository {
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}

  /**
   * Appends inside `manager`'s transaction. The advisory xact lock is held until that transaction
   * ends, so the next writer reads this row as its predecessor (READ COMMITTED takes a fresh
   * snapshot per statement, after the lock is granted). On PGlite transactions are serialised
   * anyway (see database-connection.ts).
   */
  async append(manager: EntityManager, content: AuditEventContent): Promise<ChainedAuditEvent> {
    await manager.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK_KEY]);
    const rows: { seq: string; hash: string }[] = await manager.query('SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1');
    const last = rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : undefined;
    const event = chainNext(last, content);
    await manager.query(
      `INSERT INTO audit_event (seq, at, actor, action, subject, details, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
      [event.seq, event.at, event.actor, event.action, event.subject, JSON.stringify(event.details), event.prevHash, event.hash],
    );
    return event;
  }

  /** The newest event's seq and hash, or undefined for an empty chain. */
  async last(): Promise<{ seq: number; hash: string } | undefined> {
    const rows: { seq: string; hash: string }[] = await this.ds.query('SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1');
    return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : undefined;
  }

  /** Events matching `filter`, ascending seq. */
  async find(filter: AuditFilter): Promise<ChainedAuditEvent[]> {
    const qb = this.ds.getRepository(AuditEventEntity).createQueryBuilder('e').orderBy('e.seq', 'ASC').limit(filter.limit);
    if (filter.actor !== undefined) qb.andWhere('e.actor = :actor', { actor: filter.actor });
    if (filter.action !== undefined) qb.andWhere('e.action = :action', { action: filter.action });
    if (filter.subject !== undefined) qb.andWhere('e.subject = :subject', { subject: filter.subject });
    if (filter.from !== undefined) qb.andWhere('e.at >= :from', { from: filter.from });
    if (filter.to !== undefined) qb.andWhere('e.at < :to', { to: filter.to });
    if (filter.after !== undefined) qb.andWhere('e.seq > :after', { after: filter.after });
    return (await qb.getMany()).map(toChained);
  }

  /** The whole chain in seq order, read in pages (for verification). */
  async *all(pageSize = 5000): AsyncGenerator<ChainedAuditEvent[]> {
    let after = 0;
    for (;;) {
      const page = await this.find({ after, limit: pageSize });
      if (page.length === 0) return;
      yield page;
      after = page[page.length - 1].seq;
    }
  }
}

/** Verification hashes what is stored: `at` back to ISO with ms, details as read from jsonb. */
export function toChained(e: AuditEventEntity): ChainedAuditEvent {
  return {
    seq: e.seq,
    at: e.at.toISOString(),
    actor: e.actor,
    action: e.action,
    subject: e.subject,
    details: e.details,
    prevHash: e.prevHash,
    hash: e.hash,
  };
}
