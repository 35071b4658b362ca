import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chainNext, checkHead, GENESIS_HASH, type ChainedAuditEvent } from './audit-chain.js';
import { headSignatureValid, signHead } from './audit-head.js';

function chain(n: number, tag = 'a'): ChainedAuditEvent[] {
  const out: ChainedAuditEvent[] = [];
  for (let i = 0; i < n; i++) {
    out.push(chainNext(out.at(-1), { at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), actor: tag, action: 'x', subject: `s${i}`, details: {} }));
  }
  return out;
}

describe('signHead / headSignatureValid', () => {
  const key = randomBytes(32);
  const sut = signHead(key, { seq: 7, hash: 'ab'.repeat(32) }, new Date('2026-02-03T04:05:06.789Z'));

  it('signs seq, hash and signedAt with the key', () => {
    expect(sut).toMatchObject({ seq: 7, hash: 'ab'.repeat(32), signedAt: '2026-02-03T04:05:06.789Z' });
    expect(sut.signature).toMatch(/^[0-9a-f]{64}$/);
    expect(headSignatureValid(key, sut)).toBe(true);
  });

  it('fails for another key and for any changed field', () => {
    expect(headSignatureValid(randomBytes(32), sut)).toBe(false);
    expect(headSignatureValid(key, { ...sut, seq: 8 })).toBe(false);
    expect(headSignatureValid(key, { ...sut, hash: 'cd'.repeat(32) })).toBe(false);
    expect(headSignatureValid(key, { ...sut, signedAt: '2026-02-03T04:05:06.788Z' })).toBe(false);
    expect(headSignatureValid(key, { ...sut, signature: sut.signature.slice(0, 62) })).toBe(false);
  });
});

describe('checkHead', () => {
  const events = chain(10);

  it('accepts a head the chain still reaches, at its end or before it', () => {
    expect(checkHead(events, { seq: 10, hash: events[9].hash })).toEqual({ valid: true, events: 10 });
    expect(checkHead(events, { seq: 4, hash: events[3].hash })).toEqual({ valid: true, events: 10 });
    expect(checkHead(events, { seq: 0, hash: GENESIS_HASH })).toEqual({ valid: true, events: 10 });
  });

  it('reports events removed from the end', () => {
    const verdict = checkHead(events.slice(0, 7), { seq: 10, hash: events[9].hash });
    expect(verdict).toMatchObject({ valid: false, firstBadSeq: 8 });
    expect(!verdict.valid && verdict.reason).toMatch(/^removed: the chain ends at seq 7 but the recorded head is seq 10/);
    expect(checkHead([], { seq: 1, hash: events[0].hash })).toMatchObject({ valid: false, firstBadSeq: 1 });
  });

  it('reports a chain rewritten up to the head (same seq, other hash)', () => {
    const rewritten = chain(10, 'b');
    expect(checkHead(rewritten, { seq: 10, hash: events[9].hash })).toMatchObject({ valid: false, firstBadSeq: 10 });
    expect(checkHead(events, { seq: 0, hash: events[0].hash })).toMatchObject({ valid: false, firstBadSeq: 0 });
  });
});
