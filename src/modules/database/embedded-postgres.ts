import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { resolveWorkerEntry } from '../../engine/worker/run-in-worker.js';
import { serialiseExtendedQueries } from './pglite-session-queue.js';

/** A running embedded Postgres: PGlite behind a loopback wire-protocol socket. */
export interface EmbeddedPostgres {
  /** postgres:// URL on 127.0.0.1 and the port the socket server got. */
  readonly url: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

/**
 * Client connections the socket server accepts. All of them share PGlite's single session, so
 * this bounds the sum of every pool (TypeORM, pg-boss, listeners) rather than parallelism.
 */
export const EMBEDDED_MAX_CONNECTIONS = 16;

/**
 * Starts PGlite with its data under `<dataDir>/pgdata` and serves it on 127.0.0.1 on a free port
 * (port 0, so never 5432 where a real server may run).
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  const pgdata = join(dataDir, 'pgdata');
  await mkdir(pgdata, { recursive: true });
  const db = await PGlite.create(pgdata);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: EMBEDDED_MAX_CONNECTIONS });
  serialiseExtendedQueries(server, db);
  await server.start();
  const url = `postgres://postgres:postgres@${server.getServerConn()}/postgres`;
  let stopped = false;
  return {
    url,
    dataDir: pgdata,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      await db.close();
    },
  };
}

/**
 * Starts the embedded database in its own worker thread (embedded-postgres-worker.ts). Clients
 * still connect over the loopback socket; what leaves the main thread is PGlite itself: every
 * query's execution in WASM and its result encoding, which otherwise wait for, and hold, the event
 * loop that serves HTTP and routing (issue 13: cold adapter loads of 318 KB blobs). `onExit` hears
 * of the thread ending other than by stop().
 */
export function startEmbeddedPostgresThread(dataDir: string, onExit: (reason: string) => void = () => undefined): Promise<EmbeddedPostgres> {
  // The built .js entry, or from source (vitest, tsx) the .ts one behind a tsx bootstrap.
  const worker = new Worker(resolveWorkerEntry(new URL('./embedded-postgres-worker.js', import.meta.url)).url, { workerData: { dataDir } });
  let stopping: Promise<void> | undefined;
  let lastError = '';
  let ready = false;
  return new Promise((resolve, reject) => {
    worker.on('error', (e) => {
      lastError = `: ${e.message}`;
      reject(e);
    });
    worker.once('exit', (code) => {
      reject(new Error(`embedded Postgres thread exited (code ${code}) before it was ready${lastError}`));
      if (ready && !stopping) onExit(`embedded Postgres thread exited (code ${code})${lastError}`);
    });
    worker.on('message', (m: { type: string; url?: string; dataDir?: string; message?: string }) => {
      if (m.type === 'failed') reject(new Error(m.message));
      if (m.type !== 'ready') return;
      ready = true;
      resolve({
        url: m.url!,
        dataDir: m.dataDir!,
        stop() {
          stopping ??= new Promise<void>((done) => {
            // A thread that does not finish closing in time is ended rather than hold the shutdown.
            const force = setTimeout(() => void worker.terminate(), 15_000);
            worker.once('exit', () => {
              clearTimeout(force);
              done();
            });
            worker.postMessage('stop');
          });
          return stopping;
        },
      });
    });
  });
}
