/** Messages a worker task posts to its parent (run-in-worker.ts ↔ worker-task.ts). */
export type WorkerMessage<O, P> =
  | { kind: 'progress'; progress: P }
  | { kind: 'result'; value: O }
  | { kind: 'error'; name: string; message: string; stack?: string };

/** Messages the parent posts to the worker. */
export type ParentMessage = { kind: 'abort' };
