/**
 * A fresh database per test file, on every backend available:
 * - `pglite`: embedded PGlite in a new temp data folder (always available);
 * - `postgres`: `CREATE DATABASE lethe_t_<random>` on the server from DATABASE_URL (CI sets it),
 *   dropped by dispose().
 *
 * Usage:
 *   describe.each(TEST_BACKENDS)('audit on %s', (backend) => {
 *     let db: TestDatabase;
 *     beforeAll(async () => { db = await createTestDatabase(backend); });
 *     afterAll(() => db.dispose());
 *     it('...', async () => { const { ds } = await db.open(); ... });
 *   });
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { loadConfig, type LetheConfig } from '../../src/config/config.js';
import { DatabaseConnection } from '../../src/modules/database/database-connection.js';
import { createDataSource, runMigrations } from '../../src/modules/database/data-source.js';

export type TestBackend = 'pglite' | 'postgres';

/** PGlite always; the Postgres server too when DATABASE_URL is set. */
export const TEST_BACKENDS: TestBackend[] = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

/** An opened test database: the connection and a DataSource (migrated unless asked not to). */
export interface OpenDatabase {
  conn: DatabaseConnection;
  ds: DataSource;
  /** Closes the DataSource and, on PGlite, stops the embedded server (data stays until dispose). */
  close(): Promise<void>;
}

export interface TestDatabase {
  backend: TestBackend;
  /** A temp folder for this test file (the PGlite data lives in `<dataDir>/pgdata`). */
  dataDir: string;
  /** Server database URL, or undefined for PGlite. */
  databaseUrl: string | undefined;
  /** Environment for the app: DATABASE_URL (server only) and LETHE_DATA_DIR. */
  env: Record<string, string>;
  /** A validated config on this database; `overrides` are extra env variables. */
  config(overrides?: Record<string, string>): LetheConfig;
  /** Connects (starting PGlite if needed) and builds a DataSource. */
  open(options?: { migrate?: boolean }): Promise<OpenDatabase>;
  /** Drops the server database / removes the temp folder. */
  dispose(): Promise<void>;
}

/** Creates an empty database on `backend`. */
export async function createTestDatabase(backend: TestBackend): Promise<TestDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lethe-test-'));
  let databaseUrl: string | undefined;
  let dbName: string | undefined;
  if (backend === 'postgres') {
    const server = process.env.DATABASE_URL;
    if (!server) throw new Error('the postgres test backend needs DATABASE_URL');
    dbName = `lethe_t_${randomBytes(6).toString('hex')}`;
    await withAdminClient(server, (c) => c.query(`CREATE DATABASE ${dbName}`));
    const u = new URL(server);
    u.pathname = `/${dbName}`;
    databaseUrl = u.toString();
  }
  const env: Record<string, string> = { LETHE_DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
  const config = (overrides: Record<string, string> = {}) =>
    loadConfig({ LETHE_LOG_LEVEL: process.env.LETHE_LOG_LEVEL ?? 'silent', ...env, ...overrides });
  return {
    backend,
    dataDir,
    databaseUrl,
    env,
    config,
    async open({ migrate = true } = {}) {
      const conn = await DatabaseConnection.open(config());
      const ds = createDataSource(conn.url, conn.embedded);
      await ds.initialize();
      if (migrate) await runMigrations(ds, conn.embedded);
      return {
        conn,
        ds,
        async close() {
          if (ds.isInitialized) await ds.destroy();
          await conn.close();
        },
      };
    },
    async dispose() {
      if (dbName && process.env.DATABASE_URL) {
        await withAdminClient(process.env.DATABASE_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function withAdminClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
