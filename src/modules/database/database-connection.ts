import { Logger } from '@nestjs/common';
import type { LetheConfig } from '../../config/config.js';
import { startEmbeddedPostgres, startEmbeddedPostgresThread, type EmbeddedPostgres } from './embedded-postgres.js';

/*
 * Embedded PGlite behind PGLiteSocketServer — what the experiment (test/integration/
 * database-pglite-socket.test.ts) showed, and why the pools are configured as they are:
 * - PGlite has ONE backend session. The socket server accepts several client connections and
 *   queues their wire messages onto that session. While the session is inside a transaction
 *   (explicit BEGIN), only messages from the connection that opened it run; the others wait until
 *   COMMIT/ROLLBACK. The socket server did NOT keep an extended-protocol query (Parse, Bind,
 *   Describe, Execute, Sync) together outside a transaction: when a client's messages arrived in
 *   separate reads (under load), another connection's Parse replaced the unnamed statement (1–2%
 *   of requests failed during jobs). pglite-session-queue.ts fixes that by keeping the session
 *   with a connection until its Sync. With both rules, transactions and queries on different
 *   connections never interleave, and a pool larger than 1 is safe (it gives no parallelism,
 *   PGlite is single-threaded anyway).
 * - Advisory locks: every connection is the same session, so pg_try_advisory_xact_lock/
 *   pg_advisory_lock from connection B succeed while A holds the lock. Transaction-scoped locks
 *   are still correct because B cannot run at all while A's transaction is open; session-scoped
 *   locks (held outside a transaction) exclude nothing. Lethe uses only xact locks
 *   (pg-boss does too).
 * - A connection that holds a transaction open and then waits on another connection deadlocks
 *   (the other waits for the COMMIT). Code must run a transaction's queries on its own
 *   EntityManager; true on a server too, where it would otherwise be a silent consistency bug.
 * - LISTEN/NOTIFY does not cross the socket (notifications are not forwarded to listening
 *   clients), so on embedded DatabaseEvents delivers notifications in-process; only one
 *   process can open the data folder, so nobody else could be listening.
 * Pools: TypeORM 4 connections (POOL_SIZE.embedded); pg-boss should use a small pool (2-4); the
 * socket server allows EMBEDDED_MAX_CONNECTIONS in total.
 */

/** Where the database is: a Postgres server (DATABASE_URL) or the embedded PGlite. */
export class DatabaseConnection {
  private constructor(
    /** postgres:// URL that TypeORM, `pg` and pg-boss connect to. */
    readonly url: string,
    /** True when this is the embedded PGlite served on a loopback socket. */
    readonly embedded: boolean,
    /** For logs: `embedded PGlite at <dir>` or `postgres server <host>:<port>/<db>`. */
    readonly description: string,
    private readonly embeddedPg?: EmbeddedPostgres,
  ) {}

  /** Connects to DATABASE_URL, or starts the embedded database under `<dataDir>/pgdata`. */
  static async open(config: Pick<LetheConfig, 'databaseUrl' | 'dataDir' | 'embeddedDbThread'>): Promise<DatabaseConnection> {
    if (config.databaseUrl) {
      const u = new URL(config.databaseUrl);
      return new DatabaseConnection(config.databaseUrl, false, `postgres server ${u.hostname}:${u.port || 5432}${u.pathname}`);
    }
    const pg =
      config.embeddedDbThread === 'main'
        ? await startEmbeddedPostgres(config.dataDir)
        : await startEmbeddedPostgresThread(config.dataDir, (reason) => new Logger(DatabaseConnection.name).error(`${reason}: every query fails from now on`));
    return new DatabaseConnection(pg.url, true, `embedded PGlite at ${pg.dataDir} (${config.embeddedDbThread} thread)`, pg);
  }

  /** Stops the embedded database (no-op on a server). Call after every client has closed. */
  async close(): Promise<void> {
    await this.embeddedPg?.stop();
  }
}
