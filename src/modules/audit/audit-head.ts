import { createHmac, timingSafeEqual } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { ChainHead } from './audit-chain.js';

/** A chain head signed by the server: what `GET /v1/admin/audit/head` returns and auditors record. */
export interface SignedChainHead extends ChainHead {
  /** ISO 8601 time of signing (covered by the signature). */
  signedAt: string;
  /** hex HMAC-SHA256 over {@link headMessage}. */
  signature: string;
}

/** The signed bytes: a purpose tag, then the RFC 8785 canonical JSON of {hash, seq, signedAt}. */
export function headMessage(head: Omit<SignedChainHead, 'signature'>): string {
  return `lethe-audit-head/v1\n${canonicalize({ hash: head.hash, seq: head.seq, signedAt: head.signedAt })}`;
}

export function signHead(key: Uint8Array, head: ChainHead, signedAt: Date): SignedChainHead {
  const unsigned = { seq: head.seq, hash: head.hash, signedAt: signedAt.toISOString() };
  return { ...unsigned, signature: createHmac('sha256', key).update(headMessage(unsigned)).digest('hex') };
}

/** True when `head.signature` is this key's signature of the head (constant-time comparison). */
export function headSignatureValid(key: Uint8Array, head: SignedChainHead): boolean {
  const expected = createHmac('sha256', key).update(headMessage(head)).digest();
  const given = Buffer.from(head.signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
