/** The queue of waiting requests is full: answer 429 with `Retry-After: retryAfterSeconds`. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  readonly code = 'QUEUE_FULL' as const;
  constructor(
    /** Estimated wait before a retry has a chance, from recent batch durations. */
    readonly retryAfterMs: number,
    readonly queued: number,
  ) {
    super(`inference queue full (${queued} waiting); retry in about ${retryAfterMs} ms`);
  }
  /** Whole seconds, at least 1, for the `Retry-After` header. */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.retryAfterMs / 1000));
  }
}

/** The request took longer than its timeout (queue wait included). */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  readonly code = 'REQUEST_TIMEOUT' as const;
  constructor(readonly timeoutMs: number) {
    super(`request timed out after ${timeoutMs} ms`);
  }
}

/** The caller aborted (client disconnected). */
export class RequestCancelledError extends Error {
  override readonly name = 'RequestCancelledError';
  readonly code = 'REQUEST_CANCELLED' as const;
  constructor() {
    super('request cancelled');
  }
}

/** Submitted after `close()`. */
export class BatcherClosedError extends Error {
  override readonly name = 'BatcherClosedError';
  readonly code = 'BATCHER_CLOSED' as const;
  constructor() {
    super('the batcher is closed');
  }
}

/** One request as the executor sees it. */
export interface BatchItem<Req> {
  readonly request: Req;
  /** Aborted when the caller cancels or times out: stop spending work on this item. */
  readonly signal: AbortSignal;
  /** `performance.now()` when it was submitted. */
  readonly enqueuedAt: number;
}

/**
 * Runs one batch. Returns one result per item, in order; an `Error` in a slot fails that request
 * only. Results of items whose signal aborted are ignored.
 */
export type BatchExecutor<Req, Res> = (items: ReadonlyArray<BatchItem<Req>>) => Promise<ReadonlyArray<Res | Error>>;

export interface MicroBatcherOptions<Req, Res> {
  execute: BatchExecutor<Req, Res>;
  /** How long the first request of a batch waits for company. Default 5 ms. */
  windowMs?: number;
  /** A batch is dispatched at once when it reaches this size. Default 8. */
  maxBatchSize?: number;
  /** Most requests waiting (not yet dispatched); beyond, QueueFullError. Default 256. */
  maxQueue?: number;
  /** Batches executing at once (e.g. the number of inference workers). Default 1. */
  maxConcurrentBatches?: number;
  /** Default per-request timeout in ms, queue wait included; 0 = none. Default 30 000. */
  timeoutMs?: number;
}

export interface SubmitOptions {
  signal?: AbortSignal;
  /** Overrides the default timeout for this request; 0 = none. */
  timeoutMs?: number;
}

export interface MicroBatcherStats {
  queued: number;
  inFlightBatches: number;
  batches: number;
  dispatched: number;
  rejectedQueueFull: number;
  timeouts: number;
  cancelled: number;
  /** Exponentially weighted mean batch duration (ms); 0 before the first batch. */
  meanBatchMs: number;
}

interface Pending<Req, Res> {
  item: BatchItem<Req>;
  controller: AbortController;
  resolve: (r: Res) => void;
  reject: (e: unknown) => void;
  settled: boolean;
  cleanup: () => void;
}

/**
 * Collects concurrent requests for a short window, up to a batch size, and hands batches to an
 * executor. Each caller gets its own result; a cancelled or timed-out request leaves at once,
 * without disturbing the rest of its batch.
 */
export class MicroBatcher<Req, Res> {
  private readonly queue: Array<Pending<Req, Res>> = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight = 0;
  private closed = false;
  private drainWaiters: Array<() => void> = [];
  private readonly o: Required<MicroBatcherOptions<Req, Res>>;
  private readonly counts = { batches: 0, dispatched: 0, rejectedQueueFull: 0, timeouts: 0, cancelled: 0 };
  private meanBatchMs = 0;

  constructor(options: MicroBatcherOptions<Req, Res>) {
    this.o = { windowMs: 5, maxBatchSize: 8, maxQueue: 256, maxConcurrentBatches: 1, timeoutMs: 30_000, ...options };
    const { windowMs, maxBatchSize, maxQueue, maxConcurrentBatches, timeoutMs } = this.o;
    if (!(windowMs >= 0) || !(maxBatchSize >= 1) || !(maxQueue >= 0) || !(maxConcurrentBatches >= 1) || !(timeoutMs >= 0)) {
      throw new Error('invalid micro-batcher options');
    }
  }

  /** Queues a request; resolves with its own result. @throws QueueFullError when the queue is full. */
  submit(request: Req, options: SubmitOptions = {}): Promise<Res> {
    if (this.closed) return Promise.reject(new BatcherClosedError());
    if (options.signal?.aborted) {
      this.counts.cancelled += 1;
      return Promise.reject(new RequestCancelledError());
    }
    if (this.queue.length >= this.o.maxQueue) {
      this.counts.rejectedQueueFull += 1;
      return Promise.reject(new QueueFullError(this.estimateWaitMs(), this.queue.length));
    }
    return new Promise<Res>((resolve, reject) => {
      const controller = new AbortController();
      const p: Pending<Req, Res> = {
        item: { request, signal: controller.signal, enqueuedAt: performance.now() },
        controller,
        resolve,
        reject,
        settled: false,
        cleanup: () => undefined,
      };
      const onAbort = () => {
        this.counts.cancelled += 1;
        this.fail(p, new RequestCancelledError());
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const timeoutMs = options.timeoutMs ?? this.o.timeoutMs;
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.counts.timeouts += 1;
              this.fail(p, new RequestTimeoutError(timeoutMs));
            }, timeoutMs)
          : null;
      p.cleanup = () => {
        if (timer !== null) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      this.queue.push(p);
      this.schedule();
    });
  }

  /** Stops taking requests; dispatches what is queued at once and waits for every batch. */
  async close(): Promise<void> {
    this.closed = true;
    this.schedule();
    if (this.queue.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  stats(): MicroBatcherStats {
    return { queued: this.queue.length, inFlightBatches: this.inFlight, ...this.counts, meanBatchMs: this.meanBatchMs };
  }

  private fail(p: Pending<Req, Res>, err: Error): void {
    if (p.settled) return;
    p.settled = true;
    p.cleanup();
    p.controller.abort(err);
    const i = this.queue.indexOf(p);
    if (i >= 0) this.queue.splice(i, 1);
    p.reject(err);
    this.schedule();
  }

  private schedule(): void {
    while (this.inFlight < this.o.maxConcurrentBatches && this.queue.length > 0) {
      const age = performance.now() - this.queue[0]!.item.enqueuedAt;
      if (!this.closed && this.queue.length < this.o.maxBatchSize && age < this.o.windowMs) {
        if (this.timer === null) {
          this.timer = setTimeout(() => {
            this.timer = null;
            this.schedule();
          }, Math.max(0, this.o.windowMs - age));
        }
        return;
      }
      this.dispatch(this.queue.splice(0, this.o.maxBatchSize));
    }
    if (this.queue.length === 0 && this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.queue.length === 0 && this.inFlight === 0) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
  }

  private dispatch(batch: Array<Pending<Req, Res>>): void {
    this.inFlight += 1;
    this.counts.batches += 1;
    this.counts.dispatched += batch.length;
    const started = performance.now();
    const finish = (settle: (p: Pending<Req, Res>, i: number) => void) => {
      batch.forEach((p, i) => {
        if (p.settled) return;
        p.settled = true;
        p.cleanup();
        settle(p, i);
      });
      const ms = performance.now() - started;
      this.meanBatchMs = this.meanBatchMs === 0 ? ms : 0.8 * this.meanBatchMs + 0.2 * ms;
      this.inFlight -= 1;
      this.schedule();
    };
    Promise.resolve()
      .then(() => this.o.execute(batch.map((p) => p.item)))
      .then(
        (results) => {
          if (!Array.isArray(results) || results.length !== batch.length) {
            const err = new Error(`executor returned ${Array.isArray(results) ? results.length : 'no'} results for ${batch.length} requests`);
            finish((p) => p.reject(err));
            return;
          }
          finish((p, i) => {
            const r = results[i] as Res | Error;
            if (r instanceof Error) p.reject(r);
            else p.resolve(r);
          });
        },
        (err: unknown) => finish((p) => p.reject(err)),
      );
  }

  private estimateWaitMs(): number {
    const batchMs = this.meanBatchMs > 0 ? this.meanBatchMs : Math.max(this.o.windowMs, 1);
    const batchesAhead = Math.ceil(this.queue.length / this.o.maxBatchSize) + this.inFlight;
    return Math.max(1, Math.round(this.o.windowMs + batchMs * Math.ceil(batchesAhead / this.o.maxConcurrentBatches)));
  }
}
