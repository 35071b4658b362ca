import type { Response } from 'express';

/**
 * Writes an SSE comment line (`: ping`) every `intervalMs` on an open event stream, so proxies
 * and clients that time out idle connections see it alive while nothing else happens (a long
 * training phase, a queued request). Returns the function that stops it; call it before `end()`.
 */
export function startSsePings(res: Response, intervalMs: number): () => void {
  const timer = setInterval(() => {
    if (!res.writableEnded && !res.destroyed) res.write(': ping\n\n');
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
