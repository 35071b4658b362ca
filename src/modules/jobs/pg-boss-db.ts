import pg from 'pg';

/**
 * pg-boss's `db` option backed by a pool we own, so we decide when it closes: after shutdown has
 * re-opened handed-back jobs (pg-boss would close its own pool first). After close, queries
 * answer undefined instead of throwing, as pg-boss's own Db does when closed: pg-boss completes
 * and fails jobs without awaiting, and a handler that outlives shutdown must not turn into an
 * unhandled rejection.
 */
export class PgBossDb {
  private readonly pool: pg.Pool;
  private closed = false;

  constructor(url: string, max: number, onError: (error: Error) => void) {
    this.pool = new pg.Pool({ connectionString: url, max, application_name: 'lethe-jobs' });
    // An idle client losing its server must not crash the process; the next query reconnects.
    this.pool.on('error', onError);
  }

  async executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] } | undefined> {
    if (this.closed) return undefined;
    return this.pool.query(text, values);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
