import type { Request } from 'express';
import { plainToInstance, Type } from 'class-transformer';
import { IsInt, IsOptional, Min } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { DomainError } from './domain-error.js';
import { findJsonIssue, findNumberIssue, findRequestIssue, INPUT_LIMITS, textProblem } from './input-guard.js';
import { createValidationPipe } from './validation.js';

function nested(depth: number): unknown {
  // Built iteratively: the test itself must not overflow either.
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

const reqOf = (url: string, headers: Record<string, string> = {}) => ({ originalUrl: url, url, headers }) as unknown as Request;

describe('input guard: strings', () => {
  it('refuses NUL and lone surrogates, accepts paired surrogates and ordinary text', () => {
    expect(textProblem('a\u0000b')).toMatch(/NUL/);
    expect(textProblem('\uD800')).toMatch(/surrogate/);
    expect(textProblem('x\uDC00')).toMatch(/surrogate/);
    expect(textProblem('\uDBFF\uD800')).toMatch(/surrogate/);
    expect(textProblem('emoji 😀 é 中文')).toBeUndefined();
    expect(textProblem('')).toBeUndefined();
  });
});

describe('findJsonIssue', () => {
  it('names the field of a NUL or lone surrogate anywhere in the body', () => {
    expect(findJsonIssue({ name: 'a\u0000' })).toEqual({ field: 'name', message: expect.stringMatching(/NUL/) });
    expect(findJsonIssue({ items: [{ text: 'ok' }, { text: '\uD83D' }] })).toEqual({ field: 'items.1.text', message: expect.stringMatching(/surrogate/) });
    expect(findJsonIssue('\u0000')).toMatchObject({ field: 'body' });
  });

  it('refuses prototype keys that JSON.parse keeps as own properties', () => {
    expect(findJsonIssue(JSON.parse('{"name":"x","__proto__":{"role":"admin"}}'))).toMatchObject({ field: '__proto__', message: expect.stringMatching(/prototype key/) });
    expect(findJsonIssue({ lethe: { constructor: 1 } })).toMatchObject({ field: 'lethe.constructor' });
    expect(findJsonIssue({ a: [{ prototype: null }] })).toMatchObject({ field: 'a.0.prototype' });
  });

  it('refuses NUL in a key without echoing the key', () => {
    expect(findJsonIssue({ ok: 1, 'b\u0000': 1 })).toEqual({ field: '<key 1>', message: expect.stringMatching(/field names .*NUL/) });
  });

  it('refuses infinite and out-of-range numbers, accepts ordinary ones', () => {
    expect(findJsonIssue(JSON.parse('{"limit":1e400}'))).toMatchObject({ field: 'limit', message: expect.stringMatching(/finite/) });
    expect(findJsonIssue({ offset: 1e20 })).toMatchObject({ field: 'offset', message: expect.stringMatching(/2\^53/) });
    expect(findJsonIssue({ x: -(2 ** 53) })).toMatchObject({ field: 'x' });
    expect(findJsonIssue({ x: Number.MAX_SAFE_INTEGER, y: -0.5, z: 1e-300, t: 0.7 })).toBeUndefined();
  });

  it('refuses nesting past the limit and accepts it at the limit, without recursion (20,000 deep)', () => {
    expect(findJsonIssue(nested(INPUT_LIMITS.maxDepth))).toBeUndefined();
    expect(findJsonIssue(nested(INPUT_LIMITS.maxDepth + 1))).toMatchObject({ message: expect.stringMatching(/deeper than 32/) });
    const deep = JSON.parse(`${'['.repeat(20_000)}${']'.repeat(20_000)}`);
    expect(findJsonIssue(deep)).toMatchObject({ field: Array(32).fill(0).join('.'), message: expect.stringMatching(/deeper/) });
  });

  it('accepts a realistic body untouched', () => {
    const body = { model: 'demo', prompt: 'Who wrote Dune?', max_tokens: 8, stop: ['\n'], lethe: { adapters: [{ name: 'x', strength: 0.5 }] } };
    expect(findJsonIssue(body)).toBeUndefined();
  });
});

describe('findRequestIssue', () => {
  it('refuses NUL in the path and query (names the parameter), and malformed percent-encoding', () => {
    expect(findRequestIssue(reqOf('/v1/adapters/%00'))).toMatchObject({ field: 'path' });
    expect(findRequestIssue(reqOf('/v1/adapters?name=a%00b'))).toMatchObject({ field: 'name', message: expect.stringMatching(/NUL/) });
    expect(findRequestIssue(reqOf('/v1/adapters?name=%E0%A4%A'))).toMatchObject({ field: 'name' });
    expect(findRequestIssue(reqOf('/v1/%ZZ'))).toMatchObject({ field: 'path' });
  });

  it('refuses prototype keys in query parameter names, whatever the bracket syntax', () => {
    expect(findRequestIssue(reqOf('/v1/adapters?__proto__[x]=1'))).toMatchObject({ field: '__proto__[x]', message: expect.stringMatching(/prototype/) });
    expect(findRequestIssue(reqOf('/v1/adapters?a%5Bconstructor%5D=1'))).toMatchObject({ message: expect.stringMatching(/constructor/) });
    expect(findRequestIssue(reqOf('/v1/adapters?a.prototype=1'))).toMatchObject({ message: expect.stringMatching(/prototype/) });
  });

  it('checks the Idempotency-Key header, and accepts ordinary requests', () => {
    expect(findRequestIssue(reqOf('/v1/unlearning-requests', { 'idempotency-key': 'a\u0000' }))).toMatchObject({ field: 'Idempotency-Key' });
    expect(findRequestIssue(reqOf('/v1/unlearning-requests?limit=5&offset=10&name=caf%C3%A9+x', { 'idempotency-key': 'retry-1' }))).toBeUndefined();
  });
});

class PageQuery {
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  offset?: number;
}

describe('GuardedValidationPipe', () => {
  const sut = createValidationPipe();
  const meta = { type: 'query' as const, metatype: PageQuery, data: undefined };

  it('refuses an integer query value beyond 2^53 that class-validator accepts (offset=1e20)', async () => {
    await expect(sut.transform({ offset: '1e20' }, meta)).rejects.toSatisfy(
      (e: unknown) => e instanceof DomainError && JSON.stringify(e.details).includes('"field":"offset"'),
    );
    await expect(sut.transform({ offset: '25' }, meta)).resolves.toEqual(plainToInstance(PageQuery, { offset: 25 }));
  });

  it('leaves NaN to class-validator, which names the expected type', async () => {
    await expect(sut.transform({ offset: 'abc' }, meta)).rejects.toSatisfy(
      (e: unknown) => e instanceof DomainError && JSON.stringify(e.details).includes('integer'),
    );
    expect(findNumberIssue({ a: Number.NaN })).toBeUndefined();
    expect(findNumberIssue({ a: { b: Infinity } })).toMatchObject({ field: 'a.b' });
  });
});

describe('findJsonIssue without the number rule', () => {
  it('still checks strings, keys and depth (uploaded JSON whose numbers a domain check judges)', () => {
    expect(findJsonIssue({ lora_alpha: 1e30 }, { numbers: false })).toBeUndefined();
    expect(findJsonIssue({ lora_alpha: 1e30, x: 'a\u0000' }, { numbers: false, root: 'cfg' })).toMatchObject({ field: 'cfg.x' });
  });
});
