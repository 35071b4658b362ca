import type { PGlite } from '@electric-sql/pglite';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** One queued wire-protocol message of a client connection (pglite-socket's internal shape). */
interface QueuedMessage {
  handlerId: number;
  message: Uint8Array;
  resolve(bytes: number): void;
  reject(error: unknown): void;
  onData(data: Uint8Array): void;
}

/** The parts of pglite-socket's (unexported) QueryQueueManager this module replaces. */
interface QueryQueueInternals {
  queue: QueuedMessage[];
  processing: boolean;
  lastHandlerId: number | null;
  processQueue(): Promise<void>;
  clearQueueForHandler(handlerId: number): void;
}

// Messages after which a connection no longer needs the session to itself: Sync ends an
// extended-protocol sequence, a simple Query is one message, Terminate ends the connection.
// The startup and SSL packets start with a zero length byte.
const SEQUENCE_END = new Set([0x53 /* S */, 0x51 /* Q */, 0x58 /* X */, 0x00]);

/**
 * Keeps PGlite's single session with one connection for a whole extended-protocol query.
 *
 * PGLiteSocketServer multiplexes client connections onto PGlite message by message and keeps a
 * connection exclusive only inside an explicit transaction. node-pg sends every parameterised query
 * as Parse, Bind, Describe, Execute, Sync; when another connection's Parse lands in between, it
 * replaces the unnamed statement and portal, and the first query fails ("bind message supplies 11
 * parameters", "portal does not exist") or, worse, returns another query's rows (a valid API key
 * read as unknown). Seen at 1–2% of requests while a job wrote progress. This replaces the queue's
 * scheduler so a connection that has started a sequence keeps the session until its Sync (and,
 * as before, until its transaction ends).
 */
export function serialiseExtendedQueries(server: PGLiteSocketServer, db: PGlite): void {
  const queue = (server as unknown as { queryQueue?: QueryQueueInternals }).queryQueue;
  if (!queue || !Array.isArray(queue.queue) || typeof queue.processQueue !== 'function') {
    throw new Error('pglite-socket internals changed: cannot serialise extended-protocol queries (check the pinned version)');
  }
  let owner: number | null = null;

  queue.processQueue = async function processQueue(this: QueryQueueInternals): Promise<void> {
    if (this.processing || this.queue.length === 0) return;
    this.processing = true;
    try {
      while (this.queue.length > 0) {
        const holder = db.isInTransaction() && this.lastHandlerId !== null ? this.lastHandlerId : owner;
        const index = holder === null ? 0 : this.queue.findIndex((m) => m.handlerId === holder);
        // The holder's next message has not arrived yet: its enqueue() restarts the loop.
        if (index === -1) break;
        const [next] = this.queue.splice(index, 1);
        let bytes = 0;
        try {
          await db.runExclusive(() =>
            db.execProtocolRawStream(next.message, {
              onRawData: (data: Uint8Array) => {
                bytes += data.length;
                next.onData(data);
              },
            }),
          );
        } catch (error) {
          owner = null;
          next.reject(error);
          continue;
        }
        this.lastHandlerId = next.handlerId;
        owner = SEQUENCE_END.has(next.message[0]) ? null : next.handlerId;
        next.resolve(bytes);
      }
    } finally {
      this.processing = false;
    }
  };

  // A connection that goes away mid-sequence must not keep the session.
  const clearQueueForHandler = queue.clearQueueForHandler.bind(queue);
  queue.clearQueueForHandler = (handlerId: number) => {
    clearQueueForHandler(handlerId);
    if (owner === handlerId) {
      owner = null;
      void queue.processQueue();
    }
  };
}
