/**
 * The worker side of run-in-worker.ts. A worker entry module calls `serveWorkerTask(fn)` once at
 * top level; `fn` gets the input (workerData), a progress callback and an AbortSignal that fires
 * when the parent cancels. Its return value (plus any `transfer` buffers) goes back to the parent.
 */
import { isMainThread, parentPort, workerData, type TransferListItem } from 'node:worker_threads';
import { niceThisThread } from './thread-priority.js';
import { THREAD_NICE_ENV, type ParentMessage, type WorkerMessage } from './worker-protocol.js';

export interface WorkerTaskContext<P> {
  progress(progress: P): void;
  signal: AbortSignal;
}

/** A task's return value, with buffers to move instead of copy. */
export interface WorkerTaskOutput<O> {
  value: O;
  transfer?: TransferListItem[];
}

/** Serves one task in this worker thread; exits the thread when the task settles. */
export function serveWorkerTask<I, O, P = unknown>(fn: (input: I, ctx: WorkerTaskContext<P>) => Promise<WorkerTaskOutput<O>>): void {
  if (isMainThread || !parentPort) throw new Error('serveWorkerTask must run inside a worker thread');
  const port = parentPort;
  niceThisThread(Number(process.env[THREAD_NICE_ENV] ?? 0));
  const controller = new AbortController();
  port.on('message', (msg: ParentMessage) => {
    if (msg?.kind === 'abort') controller.abort(new Error('cancelled by the parent'));
  });
  const post = (msg: WorkerMessage<O, P>, transfer?: TransferListItem[]): void => port.postMessage(msg, transfer);
  const ctx: WorkerTaskContext<P> = { progress: (progress) => post({ kind: 'progress', progress }), signal: controller.signal };
  fn(workerData as I, ctx)
    .then(
      (out) => post({ kind: 'result', value: out.value }, out.transfer),
      (error: unknown) => {
        const e = error instanceof Error ? error : new Error(String(error));
        post({ kind: 'error', name: e.name, message: e.message, stack: e.stack });
      },
    )
    .finally(() => {
      port.close();
      // Tensor backends keep handles open; leave explicitly once the answer is posted.
      setImmediate(() => process.exit(0));
    });
}
