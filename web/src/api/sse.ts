import { ApiError, authHeaders } from './client.js';

/** One server-sent event. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Incremental `text/event-stream` parser (WHATWG HTML §9.2.6): feed it chunks, it returns the
 * complete events so far. Comment lines (`:keep-alive`) are ignored; `data` lines are joined by \n.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;

  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      const sepLen = this.buffer.startsWith('\r\n', nl) ? 2 : 1;
      this.buffer = this.buffer.slice(nl + sepLen);
      if (line === '') {
        if (this.data.length > 0) out.push({ event: this.event || 'message', data: this.data.join('\n'), ...(this.id !== undefined ? { id: this.id } : {}) });
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id') this.id = value;
    }
    return out;
  }
}

/**
 * Follows an SSE endpoint with fetch streaming, because EventSource cannot send the
 * Authorization header (and the key must never go in the URL). Resolves when the stream ends;
 * rejects with ApiError on an HTTP error. Abort with `signal`.
 */
export async function followEvents(path: string, onEvent: (e: SseEvent) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(path, { headers: { ...authHeaders(), accept: 'text/event-stream' }, signal, credentials: 'omit', cache: 'no-store' });
  if (!res.ok || !res.body) {
    let message = `event stream failed with status ${res.status}`;
    let code = `HTTP_${res.status}`;
    try {
      const body = (await res.json()) as { error?: { code?: string; message?: string } };
      message = body.error?.message ?? message;
      code = body.error?.code ?? code;
    } catch {
      // not JSON
    }
    throw new ApiError(res.status, code, message, null);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    for (const e of parser.push(value)) onEvent(e);
  }
}

export interface FollowOptions {
  signal: AbortSignal;
  /** Reconnect when no event came for this long (the server sends no heartbeat). */
  silenceMs: number;
  /** True once the followed thing is final: no reconnect after that. */
  done: () => boolean;
  /** Connection state for the page: connected, or the last error and the retry delay. */
  onState: (state: { connected: true } | { connected: false; error: unknown; retryMs: number }) => void;
  /** Failed connections in a row before giving up (default 8). */
  maxFailures?: number;
}

/**
 * `followEvents` that keeps following, as `EventSource` would: a stream that ends, fails or goes
 * silent before `done()` is reopened (the server re-sends the current state first), with
 * exponential backoff after failures. Resolves once done or aborted; rejects with the last error
 * after `maxFailures` failed connections in a row.
 */
export async function followLive(path: string, onEvent: (e: SseEvent) => void, o: FollowOptions): Promise<void> {
  let failures = 0;
  while (!o.signal.aborted && !o.done()) {
    const attempt = new AbortController();
    const stop = () => attempt.abort();
    o.signal.addEventListener('abort', stop);
    let timer = setTimeout(stop, o.silenceMs);
    let error: unknown;
    try {
      await followEvents(
        path,
        (e) => {
          clearTimeout(timer);
          timer = setTimeout(stop, o.silenceMs);
          failures = 0;
          o.onState({ connected: true });
          onEvent(e);
        },
        attempt.signal,
      );
    } catch (e) {
      if (!attempt.signal.aborted) error = e; // an abort is ours: silence or the caller
    } finally {
      clearTimeout(timer);
      o.signal.removeEventListener('abort', stop);
    }
    if (o.signal.aborted || o.done()) return;
    let retryMs = 500;
    if (error !== undefined) {
      failures++;
      if (failures >= (o.maxFailures ?? 8)) throw error;
      retryMs = Math.min(30_000, 500 * 2 ** failures);
      o.onState({ connected: false, error, retryMs });
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, retryMs);
      o.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  }
}
