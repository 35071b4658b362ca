import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/** prev_hash of the first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** The hashed content of an audit event (seq is not hashed: order is carried by prev_hash). */
export interface AuditEventContent {
  /** ISO 8601 with milliseconds, exactly as stored (timestamptz keeps ms exactly). */
  at: string;
  actor: string;
  action: string;
  subject: string;
  details: Record<string, unknown>;
}

export interface ChainedAuditEvent extends AuditEventContent {
  seq: number;
  prevHash: string;
  hash: string;
}

export type ChainVerdict = { valid: true; events: number } | { valid: false; firstBadSeq: number; reason: string };

/** sha256(prev_hash ‖ canonical JSON (RFC 8785) of the event content), hex. */
export function computeHash(prevHash: string, event: AuditEventContent): string {
  const { at, actor, action, subject, details } = event;
  const json = canonicalize({ at, actor, action, subject, details });
  if (json === undefined) throw new Error('audit event cannot be canonicalised');
  return createHash('sha256').update(prevHash).update(json).digest('hex');
}

/** The next event of a chain whose last event is `last` (undefined for an empty chain). */
export function chainNext(last: Pick<ChainedAuditEvent, 'seq' | 'hash'> | undefined, event: AuditEventContent): ChainedAuditEvent {
  const prevHash = last?.hash ?? GENESIS_HASH;
  return { ...event, seq: (last?.seq ?? 0) + 1, prevHash, hash: computeHash(prevHash, event) };
}

/**
 * Verifies events in stored seq order and names the first bad one:
 * - `changed`: the row's fields no longer hash to its stored hash;
 * - `reordered`: its prev_hash is the hash of another row than its predecessor;
 * - `removed`: its prev_hash links to no row here, or seq skips (rows before it are gone);
 * - otherwise a broken link (prev_hash rewritten).
 * Removing rows at the end of the chain is not detectable from the chain alone: {@link checkHead}
 * against a head recorded earlier is.
 */
export function verifyChain(events: readonly ChainedAuditEvent[]): ChainVerdict {
  const bySeqOfHash = new Map(events.map((e) => [e.hash, e.seq]));
  let prev: ChainedAuditEvent | undefined;
  for (const e of events) {
    if (computeHash(e.prevHash, e) !== e.hash) {
      return { valid: false, firstBadSeq: e.seq, reason: `changed: the fields of seq ${e.seq} do not match its hash` };
    }
    const expectedPrev = prev?.hash ?? GENESIS_HASH;
    const expectedSeq = (prev?.seq ?? 0) + 1;
    if (e.prevHash !== expectedPrev) {
      const linked = bySeqOfHash.get(e.prevHash);
      if (linked !== undefined && linked !== prev?.seq) {
        return {
          valid: false,
          firstBadSeq: e.seq,
          reason: `reordered: seq ${e.seq} follows seq ${linked} in the chain but is stored after ${prev ? `seq ${prev.seq}` : 'the start'}`,
        };
      }
      if (linked === undefined && e.seq !== expectedSeq) {
        return { valid: false, firstBadSeq: e.seq, reason: `removed: the event before seq ${e.seq} is missing` };
      }
      return { valid: false, firstBadSeq: e.seq, reason: `changed: prev_hash of seq ${e.seq} does not link to its predecessor` };
    }
    if (e.seq !== expectedSeq) {
      return { valid: false, firstBadSeq: e.seq, reason: `removed: seq jumps from ${prev?.seq ?? 0} to ${e.seq}` };
    }
    prev = e;
  }
  return { valid: true, events: events.length };
}

/** The last event of the chain at some moment, as an auditor records it (`seq` 0 = empty chain). */
export interface ChainHead {
  seq: number;
  hash: string;
}

/**
 * Whether `events` (a chain that {@link verifyChain} accepted) still reaches a head recorded
 * earlier: the event at `head.seq` must exist and carry `head.hash`. Because every hash covers its
 * predecessor, that also pins every event before it. This is what catches events deleted from
 * the end of the chain, which the chain alone cannot show.
 */
export function checkHead(events: readonly ChainedAuditEvent[], head: ChainHead): ChainVerdict {
  const lastSeq = events.at(-1)?.seq ?? 0;
  if (head.seq === 0) {
    return head.hash === GENESIS_HASH
      ? { valid: true, events: events.length }
      : { valid: false, firstBadSeq: 0, reason: 'changed: a head at seq 0 must carry the genesis hash' };
  }
  const at = events.find((e) => e.seq === head.seq);
  if (!at) {
    return {
      valid: false,
      firstBadSeq: lastSeq + 1,
      reason: `removed: the chain ends at seq ${lastSeq} but the recorded head is seq ${head.seq} (events deleted from the end)`,
    };
  }
  if (at.hash !== head.hash) {
    return { valid: false, firstBadSeq: head.seq, reason: `changed: the event at seq ${head.seq} no longer has the recorded head's hash (the chain was rewritten)` };
  }
  return { valid: true, events: events.length };
}
