import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chainNext, computeHash, GENESIS_HASH, verifyChain, type AuditEventContent, type ChainedAuditEvent } from './audit-chain.js';

function eventFactory(overrides: Partial<AuditEventContent> = {}): AuditEventContent {
  return {
    at: new Date(Date.UTC(2026, 0, 1, 12, 0, 0, Math.floor(Math.random() * 1000))).toISOString(),
    actor: `key-${Math.random().toString(36).slice(2, 8)}`,
    action: 'adapter.activate',
    subject: `adapter:${Math.random().toString(36).slice(2, 8)}`,
    details: { n: Math.floor(Math.random() * 100), nested: { b: 1, a: [1, 'x', null] } },
    ...overrides,
  };
}

function buildChain(n: number): ChainedAuditEvent[] {
  const out: ChainedAuditEvent[] = [];
  for (let i = 0; i < n; i++) out.push(chainNext(out.at(-1), eventFactory()));
  return out;
}

describe('computeHash', () => {
  it('is sha256 of prev_hash followed by the canonical JSON (sorted keys, no spaces)', () => {
    const e: AuditEventContent = { at: '2026-01-01T00:00:00.000Z', actor: 'a', action: 'x', subject: 's', details: { z: 1, a: [true] } };
    const canonical = '{"action":"x","actor":"a","at":"2026-01-01T00:00:00.000Z","details":{"a":[true],"z":1},"subject":"s"}';
    const expected = createHash('sha256').update(GENESIS_HASH + canonical).digest('hex');
    expect(computeHash(GENESIS_HASH, e)).toBe(expected);
  });

  it('does not depend on key order in details', () => {
    const a = eventFactory({ details: { x: 1, y: { p: 2, q: 3 } } });
    expect(computeHash(GENESIS_HASH, a)).toBe(computeHash(GENESIS_HASH, { ...a, details: { y: { q: 3, p: 2 }, x: 1 } }));
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain and an empty one', () => {
    const sut = buildChain(6);
    expect(sut.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(verifyChain(sut)).toEqual({ valid: true, events: 6 });
    expect(verifyChain([])).toEqual({ valid: true, events: 0 });
  });

  it.each([
    ['actor', (e: ChainedAuditEvent) => ({ ...e, actor: 'someone-else' })],
    ['action', (e: ChainedAuditEvent) => ({ ...e, action: 'adapter.revoke' })],
    ['subject', (e: ChainedAuditEvent) => ({ ...e, subject: 'adapter:other' })],
    ['at', (e: ChainedAuditEvent) => ({ ...e, at: new Date(Date.parse(e.at) + 1).toISOString() })],
    ['details', (e: ChainedAuditEvent) => ({ ...e, details: { ...e.details, n: -1 } })],
    ['hash', (e: ChainedAuditEvent) => ({ ...e, hash: 'f'.repeat(64) })],
  ])('names a changed %s at its seq', (_field, tamper) => {
    const sut = buildChain(5);
    sut[2] = tamper(sut[2]);
    const verdict = verifyChain(sut);
    expect(verdict).toMatchObject({ valid: false, firstBadSeq: 3 });
    expect(verdict.valid === false && verdict.reason).toMatch(/^changed/);
  });

  it('names a row rewritten with a recomputed hash at the next row (broken link)', () => {
    const sut = buildChain(5);
    const forged = eventFactory();
    sut[1] = { ...forged, seq: 2, prevHash: sut[1].prevHash, hash: computeHash(sut[1].prevHash, forged) };
    expect(verifyChain(sut)).toMatchObject({ valid: false, firstBadSeq: 3, reason: expect.stringMatching(/^changed/) });
  });

  it.each([
    ['a middle row', 2, 4],
    ['the first row', 0, 2],
  ])('names a removed row (%s)', (_what, index, firstBad) => {
    const sut = buildChain(5);
    sut.splice(index, 1);
    expect(verifyChain(sut)).toMatchObject({ valid: false, firstBadSeq: firstBad, reason: expect.stringMatching(/^removed/) });
  });

  it('names a removal whose successors were re-linked and re-hashed by the seq gap', () => {
    const chain = buildChain(5);
    const kept = [chain[0], chain[1], chain[3], chain[4]];
    const sut: ChainedAuditEvent[] = [];
    for (const e of kept) {
      const prev = sut.at(-1);
      const prevHash = prev?.hash ?? GENESIS_HASH;
      sut.push({ ...e, prevHash, hash: computeHash(prevHash, e) });
    }
    expect(verifyChain(sut)).toMatchObject({ valid: false, firstBadSeq: 4, reason: expect.stringMatching(/^removed/) });
  });

  it('names reordered rows (seq values swapped)', () => {
    const sut = buildChain(5);
    const [third, fourth] = [sut[2], sut[3]];
    sut[2] = { ...fourth, seq: 3 };
    sut[3] = { ...third, seq: 4 };
    expect(verifyChain(sut)).toMatchObject({ valid: false, firstBadSeq: 3, reason: expect.stringMatching(/^reordered/) });
  });
});
