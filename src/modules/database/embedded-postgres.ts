import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { serialiseExtendedQueries } from './pglite-session-queue.js';

/** A running embedded Postgres: PGlite behind a loopback wire-protocol socket. */
export interface EmbeddedPostgres {
  /** postgres:// URL on 127.0.0.1 and the port the socket server got. */
  readonly url: string;
  readonly dataDir: string;
  /** The in-process PGlite instance (for LISTEN, which cannot go through the socket; see below). */
  readonly db: PGlite;
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
    db,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      await db.close();
    },
  };
}
