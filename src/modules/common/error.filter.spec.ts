import { BadRequestException, Logger, NotFoundException } from '@nestjs/common';
import type { Request } from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DomainError, ErrorCode, HTTP_STATUS } from './domain-error.js';
import { ErrorFilter } from './error.filter.js';

const req = (id?: string) => ({ id, headers: {}, method: 'GET', originalUrl: '/x' }) as unknown as Request;

describe('ErrorFilter.toResponse', () => {
  afterEach(() => vi.restoreAllMocks());

  it('keeps a DomainError code and details, with the status from the one mapping', () => {
    const sut = new ErrorFilter();
    for (const code of Object.values(ErrorCode)) {
      const { status, body } = sut.toResponse(new DomainError(code, 'msg', { a: 1 }), req());
      expect(status).toBe(HTTP_STATUS[code]);
      expect(body).toEqual({ error: { code, message: 'msg', details: { a: 1 } } });
    }
  });

  it('maps Nest HTTP exceptions by status', () => {
    const sut = new ErrorFilter();
    expect(sut.toResponse(new NotFoundException('Cannot GET /nope'), req()).body.error).toMatchObject({ code: 'NOT_FOUND', message: 'Cannot GET /nope' });
    expect(sut.toResponse(new BadRequestException('bad'), req()).status).toBe(400);
  });

  it('answers unknown errors with a generic 500 and logs them with the request id', () => {
    const logged: string[] = [];
    vi.spyOn(Logger.prototype, 'error').mockImplementation((m: unknown) => void logged.push(String(m)));
    const { status, body } = new ErrorFilter().toResponse(new Error('secret db password in message'), req('req-42'));
    expect(status).toBe(500);
    expect(body).toEqual({ error: { code: 'INTERNAL', message: 'internal error', details: { requestId: 'req-42' } } });
    expect(JSON.stringify(body)).not.toContain('secret');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('req-42');
    expect(logged[0]).toContain('secret db password');
  });

  it('answers UNAVAILABLE with Retry-After when given, logged at info in one line without a stack', () => {
    const info: string[] = [];
    const errors: string[] = [];
    vi.spyOn(Logger.prototype, 'log').mockImplementation((m: unknown) => void info.push(String(m)));
    vi.spyOn(Logger.prototype, 'error').mockImplementation((m: unknown) => void errors.push(String(m)));
    const sent = (e: unknown) => {
      const headers = new Map<string, string>();
      const res = { headersSent: false, setHeader: (k: string, v: string) => headers.set(k, v), status: () => res, json: () => res };
      const host = { getType: () => 'http', switchToHttp: () => ({ getRequest: () => req('req-7'), getResponse: () => res }) };
      new ErrorFilter().catch(e, host as never);
      return headers;
    };
    const loading = new DomainError(ErrorCode.UNAVAILABLE, 'model demo is not ready (loading: starting)', { state: 'loading' }).retryAfter(4.2);
    expect(sent(loading).get('retry-after')).toBe('5');
    expect(errors).toEqual([]);
    expect(info).toHaveLength(1);
    expect(info[0]).toContain('model demo is not ready');
    expect(info[0]).toContain('req-7');
    expect(info[0]).not.toContain('\n'); // no stack
    expect(sent(new DomainError(ErrorCode.UNAVAILABLE, 'model demo is not ready (failed: no config.json)')).has('retry-after')).toBe(false);
    expect(errors).toEqual([]);
  });
});
