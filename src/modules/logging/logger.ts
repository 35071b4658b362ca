import { pino, type Logger, type LevelWithSilent } from 'pino';
import { currentLogContext } from './log-context.js';

export type RootLogger = Logger;

/** Injection token for the root pino logger. */
export const PINO_LOGGER = Symbol('PINO_LOGGER');

/**
 * The process's root logger: JSON lines on stdout (fd 1, synchronous so nothing is lost on exit).
 * A mixin adds the request/job context from AsyncLocalStorage to every line, so service code that
 * never sees the request still logs its id. Lines from a child logger that already binds `reqId`
 * (pino-http's request logger) are left as they are.
 */
export function createRootLogger(level: LevelWithSilent, destination?: pino.DestinationStream): RootLogger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Secrets never reach the log, whoever logs a request or its headers.
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
      mixin(_obj, _level, logger) {
        const ctx = currentLogContext();
        if (!ctx) return {};
        if (ctx.reqId !== undefined && 'reqId' in logger.bindings()) {
          const { reqId: _bound, ...rest } = ctx;
          return rest;
        }
        return { ...ctx };
      },
    },
    destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
