/**
 * Runs one task in a worker thread (node:worker_threads) so heavy tensor work stays off the HTTP
 * event loop. The entry module calls `serveWorkerTask(fn)` (worker-task.ts); the parent gets the
 * task's progress messages and its result, or an error. Works from the built dist (.js entry) and
 * under vitest/tsx (.ts entry, loaded with `--import tsx`). Cancellable through an AbortSignal.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type ResourceLimits, type TransferListItem } from 'node:worker_threads';
import { THREAD_NICE_ENV, type WorkerMessage } from './worker-protocol.js';

export interface RunInWorkerOptions<P> {
  /** Called for every progress message the task posts. */
  onProgress?: (progress: P) => void;
  /** Aborting asks the task to stop, then terminates the thread after `abortGraceMs`. */
  signal?: AbortSignal;
  /** How long a cancelled task may take to stop on its own (default 2000 ms). */
  abortGraceMs?: number;
  /** Buffers moved (not copied) into the worker with the input. */
  transferList?: TransferListItem[];
  resourceLimits?: ResourceLimits;
  /** Called once the thread exists (tests use it to kill the thread mid-task). */
  onStart?: (worker: Worker) => void;
  /** Extra environment for the thread (default: the parent's process.env). */
  env?: NodeJS.ProcessEnv;
  /** Niceness the task's thread runs at (thread-priority.ts; serveWorkerTask sets it). Default 0. */
  nice?: number;
}

/** The task threw inside the worker; `workerStack` is its stack there. */
export class WorkerTaskError extends Error {
  constructor(message: string, readonly workerName: string, readonly workerStack?: string) {
    super(message);
    this.name = 'WorkerTaskError';
  }
}

/** The thread ended without a result: killed, crashed, or out of memory. */
export class WorkerExitError extends Error {
  constructor(readonly exitCode: number) {
    super(`worker thread exited with code ${exitCode} before it returned a result`);
    this.name = 'WorkerExitError';
  }
}

/** The signal fired; the thread has stopped. */
export class WorkerAbortedError extends Error {
  constructor(readonly reason: unknown) {
    super(`worker task cancelled${reason instanceof Error ? `: ${reason.message}` : ''}`);
    this.name = 'WorkerAbortedError';
  }
}

/** How a worker entry is started: the module to run and whether it is TypeScript source. */
export interface ResolvedWorkerEntry {
  /** The file the task lives in (`.js`, or its `.ts` source). */
  file: URL;
  typescript: boolean;
  /** What `new Worker()` gets: the file itself, or a bootstrap that registers tsx first. */
  url: URL;
}

/**
 * The runnable form of a worker entry: a `.js` file as given, or, when only its `.ts` source exists
 * (vitest, tsx), the `.ts` file behind a tiny bootstrap that registers tsx's loader. (Node 20 loads
 * a worker's main module before `--import` preloads in its execArgv run, so `--import tsx` alone
 * fails with "Unknown file extension .ts".) Throws when neither file exists.
 */
export function resolveWorkerEntry(entry: URL | string): ResolvedWorkerEntry {
  const given = typeof entry === 'string' ? pathToFileURL(entry) : entry;
  const path = fileURLToPath(given);
  let file: URL | undefined;
  if (existsSync(path)) file = given;
  else if (path.endsWith('.js') && existsSync(path.replace(/\.js$/, '.ts'))) file = pathToFileURL(path.replace(/\.js$/, '.ts'));
  if (!file) throw new Error(`worker entry ${path} does not exist`);
  if (!file.pathname.endsWith('.ts')) return { file, typescript: false, url: file };
  const code = `import { register } from ${JSON.stringify(tsxApiUrl())}; register(); await import(${JSON.stringify(file.href)});`;
  return { file, typescript: true, url: new URL(`data:text/javascript,${encodeURIComponent(code)}`) };
}

function tsxApiUrl(): string {
  const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
  const esm = cjs.replace(/\.cjs$/, '.mjs');
  return pathToFileURL(existsSync(esm) ? esm : cjs).href;
}

/**
 * Starts `entry` in a new worker thread with `input` and resolves to the value its task returns.
 * Rejects with WorkerTaskError (the task threw), WorkerExitError (the thread died) or
 * WorkerAbortedError (the signal fired). The thread is always gone when the promise settles.
 */
export function runInWorker<I, O, P = unknown>(entry: URL | string, input: I, options: RunInWorkerOptions<P> = {}): Promise<O> {
  const { url } = resolveWorkerEntry(entry);
  if (options.signal?.aborted) return Promise.reject(new WorkerAbortedError(options.signal.reason));
  return new Promise<O>((resolve, reject) => {
    const worker = new Worker(url, {
      workerData: input,
      transferList: options.transferList,
      resourceLimits: options.resourceLimits,
      env: { ...(options.env ?? process.env), [THREAD_NICE_ENV]: String(options.nice ?? 0) },
      stdout: false,
      stderr: false,
    });
    let outcome: { ok: true; value: O } | { ok: false; error: Error } | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      outcome ??= { ok: false, error: new WorkerAbortedError(options.signal?.reason) };
      worker.postMessage({ kind: 'abort' });
      killTimer = setTimeout(() => void worker.terminate(), options.abortGraceMs ?? 2000);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (msg: WorkerMessage<O, P>) => {
      if (msg.kind === 'progress') {
        try {
          options.onProgress?.(msg.progress);
        } catch {
          /* a failing listener must not kill the task */
        }
      } else if (msg.kind === 'result') {
        outcome ??= { ok: true, value: msg.value };
      } else if (msg.kind === 'error') {
        outcome ??= { ok: false, error: new WorkerTaskError(msg.message, msg.name, msg.stack) };
      }
    });
    worker.on('error', (error) => {
      outcome ??= { ok: false, error };
    });
    worker.on('exit', (code) => {
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      const o = outcome ?? { ok: false as const, error: new WorkerExitError(code) };
      if (o.ok) resolve(o.value);
      else reject(o.error);
    });
    options.onStart?.(worker);
  });
}
