import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Random characters after `lethe_`: 40 base62 chars ≈ 238 bits. */
export const KEY_RANDOM_LENGTH = 40;
/** Characters of the secret kept in clear (`lethe_` + 8) to find the row and show in listings. */
export const KEY_PREFIX_LENGTH = 14;
export const KEY_PATTERN = /^lethe_[0-9A-Za-z]{32,}$/;

/** Uniform base62 string (rejection sampling: bytes ≥ 248 are dropped to avoid modulo bias). */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248 && out.length < length) out += BASE62[b % 62];
    }
  }
  return out;
}

export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function apiKeyPrefix(secret: string): string {
  return secret.slice(0, KEY_PREFIX_LENGTH);
}

/** A new secret `lethe_<40 base62>` with its display prefix and its sha256. */
export function generateApiKey(): { secret: string; prefix: string; hash: string } {
  const secret = `lethe_${randomBase62(KEY_RANDOM_LENGTH)}`;
  return { secret, prefix: apiKeyPrefix(secret), hash: hashApiKey(secret) };
}

/** Constant-time comparison of two hex sha256 digests. */
export function hashesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length === 32 && timingSafeEqual(x, y);
}
