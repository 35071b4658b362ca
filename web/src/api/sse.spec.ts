import { describe, expect, it } from 'vitest';
import { SseParser } from './sse.js';

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
