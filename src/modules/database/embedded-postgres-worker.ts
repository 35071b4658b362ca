import { parentPort, workerData } from 'node:worker_threads';
import { startEmbeddedPostgres } from './embedded-postgres.js';

/*
 * The embedded database's thread (embedded-postgres.ts, startEmbeddedPostgresThread): PGlite and
 * its loopback socket server run here, so executing SQL (WASM) and encoding results do not hold
 * the service's event loop. Messages: out { type: 'ready', url, dataDir } or { type: 'failed',
 * message }; in 'stop', after which the thread closes the database and ends.
 */
const port = parentPort!;
try {
  const pg = await startEmbeddedPostgres((workerData as { dataDir: string }).dataDir);
  port.on('message', (m: unknown) => {
    if (m !== 'stop') return;
    void pg.stop().finally(() => port.close());
  });
  port.postMessage({ type: 'ready', url: pg.url, dataDir: pg.dataDir });
} catch (e) {
  port.postMessage({ type: 'failed', message: (e as Error).message });
  port.close();
}
