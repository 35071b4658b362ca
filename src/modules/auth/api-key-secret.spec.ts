import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { apiKeyPrefix, generateApiKey, hashApiKey, hashesEqual, KEY_PATTERN } from './api-key-secret.js';

describe('generateApiKey', () => {
  it('makes lethe_-prefixed base62 secrets, stored only as their sha256', () => {
    const sut = generateApiKey();
    expect(sut.secret).toMatch(/^lethe_[0-9A-Za-z]{40}$/);
    expect(sut.secret).toMatch(KEY_PATTERN);
    expect(sut.prefix).toBe(sut.secret.slice(0, 14));
    expect(sut.hash).toBe(createHash('sha256').update(sut.secret).digest('hex'));
    expect(apiKeyPrefix(sut.secret)).toBe(sut.prefix);
  });

  it('never repeats and uses the whole alphabet about evenly', () => {
    const keys = Array.from({ length: 500 }, () => generateApiKey().secret.slice(6));
    expect(new Set(keys).size).toBe(500);
    const counts = new Map<string, number>();
    for (const ch of keys.join('')) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // 20000 chars / 62 ≈ 323 per symbol; a biased generator would drift far beyond ±40%.
    for (const n of counts.values()) expect(Math.abs(n - 20000 / 62) / (20000 / 62)).toBeLessThan(0.4);
  });
});

describe('hashesEqual', () => {
  it('compares digests', () => {
    const h = hashApiKey('lethe_x');
    expect(hashesEqual(h, hashApiKey('lethe_x'))).toBe(true);
    expect(hashesEqual(h, hashApiKey('lethe_y'))).toBe(false);
    expect(hashesEqual(h, 'abc')).toBe(false);
  });
});
