/** Messages a worker task posts to its parent (run-in-worker.ts ↔ worker-task.ts). */
export type WorkerMessage<O, P> =
  | { kind: 'progress'; progress: P }
  | { kind: 'result'; value: O }
  | { kind: 'error'; name: string; message: string; stack?: string };

/** Messages the parent posts to the worker. */
export type ParentMessage = { kind: 'abort' };

/** The thread's environment variable through which runInWorker gives serveWorkerTask its niceness. */
export const THREAD_NICE_ENV = 'LETHE_THREAD_NICE';
