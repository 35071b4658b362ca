/**
 * Where the embedded database runs (LETHE_EMBEDDED_DB_THREAD): in its own worker thread by
 * default, so a query's execution does not hold the service's event loop, or on the main thread.
 * Both keep the data in the same folder, and a restart on the other setting reads it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { DatabaseConnection } from '../../src/modules/database/database-connection.js';

const open = (dataDir: string, thread: string) => DatabaseConnection.open(loadConfig({ LETHE_DATA_DIR: dataDir, LETHE_EMBEDDED_DB_THREAD: thread }));

async function withClient<T>(conn: DatabaseConnection, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: conn.url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Main-thread timer ticks (every 10 ms) while `query` runs. */
async function ticksDuring(conn: DatabaseConnection, query: string): Promise<{ ticks: number; ms: number }> {
  return withClient(conn, async (c) => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = performance.now();
    try {
      await c.query(query);
    } finally {
      clearInterval(timer);
    }
    return { ticks, ms: performance.now() - started };
  });
}

// Long enough (hundreds of ms in PGlite) that a 10 ms timer would tick many times if nothing held the loop.
const SLOW_QUERY = 'SELECT count(*) FROM generate_series(1, 3000000) g WHERE g % 7 = 3';

describe('the embedded database thread', () => {
  let dir: string;
  const blob = randomBytes(318 * 1024); // an unlearning adapter's size

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lethe-dbthread-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('defaults to a worker thread', () => {
    expect(loadConfig({}).embeddedDbThread).toBe('worker');
  });

  it('serves queries from its worker thread, and its data outlives a restart on the main thread', async () => {
    const conn = await open(dir, 'worker');
    expect(conn.embedded).toBe(true);
    expect(conn.description).toContain('worker thread');
    await withClient(conn, async (c) => {
      await c.query('CREATE TABLE kept (k int PRIMARY KEY, bytes bytea)');
      await c.query('INSERT INTO kept VALUES (1, $1)', [blob]);
      const { rows } = await c.query('SELECT bytes FROM kept WHERE k = 1');
      expect(Buffer.compare(rows[0].bytes, blob)).toBe(0);
    });
    await conn.close();

    const again = await open(dir, 'main');
    const { rows } = await withClient(again, (c) => c.query('SELECT bytes FROM kept WHERE k = 1'));
    expect(Buffer.compare(rows[0].bytes, blob)).toBe(0);
    await again.close();
  });

  it('leaves the event loop free while a query runs in the worker thread; on the main thread the query holds it', async () => {
    const worker = await open(dir, 'worker');
    const inWorker = await ticksDuring(worker, SLOW_QUERY);
    await worker.close();
    const main = await open(dir, 'main');
    const onMain = await ticksDuring(main, SLOW_QUERY);
    await main.close();
    // The query runs in one synchronous WASM call: on the main thread no timer fires meanwhile.
    expect(onMain.ms).toBeGreaterThan(100);
    expect(onMain.ticks).toBeLessThanOrEqual(2);
    expect(inWorker.ticks).toBeGreaterThanOrEqual(Math.min(5, Math.floor(inWorker.ms / 40)));
  });

  it('reports a data folder it cannot use, and a stopped thread lets a new one open the folder', async () => {
    const file = join(dir, 'not-a-folder');
    await writeFile(file, 'x');
    await expect(open(file, 'worker')).rejects.toThrow(/EEXIST|ENOTDIR|not a directory|file already exists/i);
    const conn = await open(dir, 'worker');
    await conn.close();
    const next = await open(dir, 'worker');
    const { rows } = await withClient(next, (c) => c.query('SELECT count(*)::int AS n FROM kept'));
    expect(rows[0].n).toBe(1);
    await next.close();
  });
});
