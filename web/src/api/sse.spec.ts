/// <reference types="node" />
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { followLive, SseParser, type SseEvent } from './sse.js';

describe('SseParser', () => {
  it('parses events split across chunks, with CRLF, comments and multi-line data', () => {
    const sut = new SseParser();
    expect(sut.push(': keep-alive\n\nevent: progress\nid: 7\ndata: {"a"')).toEqual([]);
    expect(sut.push(':1}\r\n\r\ndata: line one\ndata:line two\n')).toEqual([{ event: 'progress', id: '7', data: '{"a":1}' }]);
    expect(sut.push('\n')).toEqual([{ event: 'message', id: '7', data: 'line one\nline two' }]);
  });

  it('dispatches nothing for a block without data', () => {
    const sut = new SseParser();
    expect(sut.push('event: ping\n\n')).toEqual([]);
    expect(sut.push('data: x\n\n')).toEqual([{ event: 'message', data: 'x' }]);
  });
});

describe('followLive', () => {
  it('reopens a stream that fails, goes silent or ends early, until done', async () => {
    // A real server: 1st connection 503, 2nd one event then silence, 3rd ends after one event, 4th ends with `end`.
    let n = 0;
    const open: ServerResponse[] = [];
    const server = createServer((_req, res) => {
      n++;
      if (n === 1) return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"DOWN","message":"down"}}');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: progress\ndata: ${n}\n\n`);
      if (n === 2) return void open.push(res); // silent from here
      if (n === 4) res.write('event: end\ndata: done\n\n');
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
    const events: SseEvent[] = [];
    const states: string[] = [];
    let done = false;
    try {
      await followLive(url, (e) => (events.push(e), (done ||= e.event === 'end')), {
        signal: new AbortController().signal,
        silenceMs: 300,
        done: () => done,
        onState: (st) => states.push(st.connected ? 'on' : `off ${st.retryMs}`),
      });
    } finally {
      for (const r of open) r.destroy();
      server.close();
    }
    expect(n).toBe(4);
    expect(events.map((e) => `${e.event} ${e.data}`)).toEqual(['progress 2', 'progress 3', 'progress 4', 'end done']);
    expect(states[0]).toBe('off 1000');
    expect(states.slice(1).every((st) => st === 'on')).toBe(true);
  });

  it('gives up with the last error after maxFailures failed connections in a row', async () => {
    const server = createServer((_req, res) => void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"code":"UNAUTHORIZED","message":"nope"}}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
    try {
      await expect(followLive(url, () => undefined, { signal: new AbortController().signal, silenceMs: 1000, done: () => false, onState: () => undefined, maxFailures: 2 })).rejects.toMatchObject({
        status: 401,
        code: 'UNAUTHORIZED',
      });
    } finally {
      server.close();
    }
  });
});
