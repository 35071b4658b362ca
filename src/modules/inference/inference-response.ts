import type { Request, Response } from 'express';
import { DomainError } from '../common/domain-error.js';
import type { ErrorFilter } from '../common/error.filter.js';
import { startSsePings } from '../common/sse.js';

/** What an inference handler writes through: one JSON answer, or server-sent events ending with [DONE]. */
export interface InferenceIO {
  /** Fires when the client disconnects before the answer is complete. */
  readonly signal: AbortSignal;
  json(body: unknown): void;
  /** Sends one `data:` event; the first one opens the stream (status 200, SSE headers, pings). */
  send(chunk: unknown): void;
  /** Writes `data: [DONE]` and ends the stream. */
  done(): void;
}

/**
 * The HTTP side shared by /v1/completions and /v1/chat/completions: a disconnect aborts the work,
 * errors before the first event are ordinary error responses (429 with Retry-After), errors after
 * it are an OpenAI-style error event followed by [DONE], and the stream sends `: ping` comments.
 */
export async function respondWithInference(
  req: Request,
  res: Response,
  errors: ErrorFilter,
  pingMs: number,
  handler: (io: InferenceIO) => Promise<void>,
): Promise<void> {
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  let streaming = false;
  let stopPings = (): void => undefined;
  const io: InferenceIO = {
    signal: abort.signal,
    json: (body) => {
      res.status(200).json(body);
    },
    send: (chunk) => {
      if (!streaming) {
        streaming = true;
        res.status(200).set({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        res.flushHeaders();
        stopPings = startSsePings(res, pingMs);
      }
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    },
    done: () => {
      res.write('data: [DONE]\n\n');
      res.end();
    },
  };
  try {
    await handler(io);
  } catch (e) {
    if (abort.signal.aborted) return; // the client left; nobody to answer
    const { status, body } = errors.toResponse(e, req);
    if (streaming) {
      // Mid-stream failure: OpenAI-style error event, then the end of the stream.
      res.write(`data: ${JSON.stringify(body)}\n\n`);
      io.done();
      return;
    }
    if (e instanceof DomainError && e.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(e.retryAfterSeconds));
    res.status(status).json(body);
  } finally {
    stopPings();
  }
}
