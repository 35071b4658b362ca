import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runWithLogContext } from './log-context.js';
import { createRootLogger } from './logger.js';
import { PinoLoggerService } from './pino-logger.service.js';
import { requestIdFrom } from './request-id.js';

function capture(level: 'info' | 'debug' | 'warn' = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createRootLogger(level, stream), lines };
}

describe('root logger', () => {
  it('adds the request id of the current async context to every line, across awaits', async () => {
    const { logger, lines } = capture();
    logger.info('outside');
    await runWithLogContext({ reqId: 'r-1' }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      logger.child({ context: 'Svc' }).info('inside');
    });
    expect(lines[0].reqId).toBeUndefined();
    expect(lines[1]).toMatchObject({ reqId: 'r-1', context: 'Svc', msg: 'inside', level: 'info' });
  });

  it('does not repeat reqId on a child that already binds it', () => {
    const { logger, lines } = capture();
    runWithLogContext({ reqId: 'r-2', jobId: 'j' }, () => logger.child({ reqId: 'r-2' }).info('x'));
    expect(JSON.stringify(lines[0]).match(/"reqId"/g)).toHaveLength(1);
    expect(lines[0].jobId).toBe('j');
  });

  it('redacts authorization and cookie headers wherever a request is logged', () => {
    const { logger, lines } = capture();
    logger.info({ req: { headers: { authorization: 'Bearer k', cookie: 'c', host: 'h' } } }, 'x');
    expect(lines[0].req).toEqual({ headers: { authorization: '[redacted]', cookie: '[redacted]', host: 'h' } });
  });

  it('nested contexts keep outer fields', () => {
    const { logger, lines } = capture();
    runWithLogContext({ reqId: 'r-3' }, () => runWithLogContext({ jobId: 'j-3', jobName: 'a.run' }, () => logger.info('x')));
    expect(lines[0]).toMatchObject({ reqId: 'r-3', jobId: 'j-3', jobName: 'a.run' });
  });
});

describe('PinoLoggerService', () => {
  it('maps Nest levels and the context argument, and keeps error stacks', () => {
    const { logger, lines } = capture('debug');
    const sut = new PinoLoggerService(logger);
    sut.log('hello', 'Bootstrap');
    sut.verbose('hidden at debug', 'X');
    const err = new Error('bad');
    sut.error('it failed', err.stack, 'Jobs');
    sut.warn({ event: 'slow', ms: 12 }, 'Http');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'hello', context: 'Bootstrap' });
    expect(lines[1]).toMatchObject({ level: 'error', msg: 'it failed', context: 'Jobs' });
    expect(String(lines[1].stack)).toContain('Error: bad');
    expect(lines[2]).toMatchObject({ level: 'warn', event: 'slow', ms: 12, context: 'Http' });
  });
});

describe('requestIdFrom', () => {
  it('reuses a plain incoming id and replaces unsafe or oversized ones with a UUID', () => {
    expect(requestIdFrom('abc-123_x.y:z')).toBe('abc-123_x.y:z');
    expect(requestIdFrom(['first', 'second'])).toBe('first');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(requestIdFrom(undefined)).toMatch(uuid);
    expect(requestIdFrom('has space')).toMatch(uuid);
    expect(requestIdFrom('line\nbreak')).toMatch(uuid);
    expect(requestIdFrom('x'.repeat(129))).toMatch(uuid);
  });
});
