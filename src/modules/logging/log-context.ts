import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line written inside a request or a job carries. */
export interface LogContext {
  /** Request id (incoming X-Request-Id or a generated UUID). */
  reqId?: string;
  /** Background job id and queue name, inside a job handler. */
  jobId?: string;
  jobName?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `context` visible to every log call it makes, however deep (async included). */
export function runWithLogContext<T>(context: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...context }, fn);
}

/** The context of the current request or job, if any. */
export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}
