import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootLogger } from './logger.js';
import { PinoLoggerService } from './pino-logger.service.js';
import { requestLoggingMiddleware } from './request-logging.middleware.js';

describe('requestLoggingMiddleware over real HTTP', () => {
  const lines: Record<string, unknown>[] = [];
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        cb();
      },
    });
    const logger = createRootLogger('info', stream);
    const nestLogger = new PinoLoggerService(logger);
    const mw = requestLoggingMiddleware(logger);
    server = createServer((req, res) =>
      mw(req, res, async () => {
        await new Promise((r) => setTimeout(r, 5)); // the id must survive async hops
        nestLogger.log(`handling ${req.url}`, 'TestService');
        res.statusCode = req.url === '/fail' ? 500 : 200;
        res.end('ok');
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('tags the service log line and the access log line with the echoed request id', async () => {
    const res = await fetch(`${base}/a`, { headers: { 'x-request-id': 'req-a-1' } });
    expect(res.headers.get('x-request-id')).toBe('req-a-1');
    await new Promise((r) => setTimeout(r, 20));
    const mine = lines.filter((l) => l.reqId === 'req-a-1');
    expect(mine.map((l) => l.msg)).toEqual(['handling /a', 'request completed']);
    expect(mine[0]).toMatchObject({ context: 'TestService', level: 'info' });
    expect(mine[1]).toMatchObject({ level: 'info', res: { statusCode: 200 } });
    expect(JSON.stringify(mine[1]).match(/"reqId"/g)).toHaveLength(1);
  });

  it('never writes API keys or cookies into the access log', async () => {
    const secret = 'lethe_ThisMustNeverAppearInALogLine0123456789';
    await fetch(`${base}/secret`, {
      headers: { 'x-request-id': 'req-secret', authorization: `Bearer ${secret}`, cookie: `s=${secret}` },
    });
    await new Promise((r) => setTimeout(r, 20));
    const access = lines.find((l) => l.reqId === 'req-secret' && l.msg === 'request completed');
    expect(access).toBeDefined();
    expect(JSON.stringify(lines)).not.toContain(secret);
    expect(access).toMatchObject({ req: { headers: { authorization: '[redacted]', cookie: '[redacted]' } } });
  });

  it('keeps concurrent requests apart and logs a 500 as error', async () => {
    await Promise.all([fetch(`${base}/x`, { headers: { 'x-request-id': 'req-x' } }), fetch(`${base}/fail`, { headers: { 'x-request-id': 'req-f' } })]);
    await new Promise((r) => setTimeout(r, 20));
    expect(lines.filter((l) => l.reqId === 'req-x').map((l) => l.msg)).toEqual(['handling /x', 'request completed']);
    const failed = lines.filter((l) => l.reqId === 'req-f');
    expect(failed.map((l) => l.msg)).toEqual(['handling /fail', 'request errored']);
    expect(failed[1].level).toBe('error');
  });

  it('does not log probe requests', async () => {
    const before = lines.length;
    await fetch(`${base}/healthz`, { headers: { 'x-request-id': 'req-probe' } });
    await new Promise((r) => setTimeout(r, 20));
    expect(lines.slice(before).map((l) => l.msg)).toEqual(['handling /healthz']);
  });
});
