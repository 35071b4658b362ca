import type { IncomingMessage, ServerResponse } from 'node:http';
import { pinoHttp } from 'pino-http';
import { runWithLogContext } from './log-context.js';
import type { RootLogger } from './logger.js';
import { REQUEST_ID_HEADER, requestIdFrom } from './request-id.js';

type Next = (err?: unknown) => void;
export type RequestLoggingMiddleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/**
 * Express/Nest middleware: gives the request an id (a safe incoming X-Request-Id, else a UUID),
 * echoes it in the X-Request-Id response header, logs one line per finished request through
 * pino-http (5xx as error, 4xx as warn), and runs the rest of the request inside the
 * AsyncLocalStorage context so every log line written while serving it carries `reqId`.
 * Install it first, before anything that may log or answer.
 */
export function requestLoggingMiddleware(logger: RootLogger): RequestLoggingMiddleware {
  const http = pinoHttp({
    logger,
    genReqId: (req, res) => {
      const id = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
      res.setHeader('X-Request-Id', id);
      return id;
    },
    // API keys and cookies must never reach a log line (the console's admin key travels here too).
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'], censor: '[redacted]' },
    customProps: (req) => ({ reqId: (req as IncomingMessage & { id?: unknown }).id }),
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    // Health probes and scrapes every few seconds would drown the log.
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
  });
  return (req, res, next) => {
    http(req, res);
    const id = String((req as IncomingMessage & { id?: unknown }).id);
    runWithLogContext({ reqId: id }, () => next());
  };
}
