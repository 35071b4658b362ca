import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, type ErrorBody } from '../common/domain-error.js';

/** Paths a worker-role process serves: its probes and its metrics (job counters live there). */
export const PROBE_PATHS: readonly string[] = ['/healthz', '/readyz', '/metrics'];

/**
 * For the worker role: answers 404 (in the one error shape) to everything but {@link PROBE_PATHS},
 * so the worker's port carries healthchecks and scrapes, never the API.
 */
export function probesOnlyMiddleware() {
  return (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (PROBE_PATHS.includes(path)) return next();
    const body: ErrorBody = {
      error: { code: ErrorCode.NOT_FOUND, message: 'the worker role serves only /healthz, /readyz and /metrics', details: { path } },
    };
    res.statusCode = 404;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(body));
  };
}
