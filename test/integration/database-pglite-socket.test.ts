/**
 * The experiment behind the pool settings in src/modules/database/database-connection.ts: what
 * PGLiteSocketServer's multiplexing of client connections onto PGlite's single session means for
 * interleaved statements, transactions and advisory locks.
 */
import type { Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type OpenDatabase, type TestDatabase } from '../support/database.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Makes a pg client send each Parse message alone, then pause, as a loaded network would. */
function delayAfterParse(client: pg.Client, ms: number): () => void {
  const stream = (client as unknown as { connection: { stream: Socket } }).connection.stream;
  const write = stream.write;
  let chain = Promise.resolve();
  const send = (chunk: Buffer) => {
    chain = chain.then(async () => {
      write.call(stream, chunk);
      if (chunk[0] === 0x50) await sleep(ms);
    });
  };
  stream.write = ((chunk: Buffer | string) => {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    // Split a Parse off whatever follows it in the same write.
    if (buf[0] === 0x50 && buf.length > 5) {
      const first = 1 + buf.readInt32BE(1);
      send(buf.subarray(0, first));
      if (buf.length > first) send(buf.subarray(first));
    } else send(buf);
    return true;
  }) as typeof stream.write;
  return () => {
    stream.write = write;
  };
}

describe('PGlite behind the socket server', () => {
  let db: TestDatabase;
  let open: OpenDatabase;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    open = await db.open({ migrate: false });
    for (let i = 0; i < 3; i++) {
      const c = new pg.Client({ connectionString: open.conn.url });
      await c.connect();
      clients.push(c);
    }
    await clients[0].query('CREATE TABLE t (x int)');
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end()));
    await open.close();
    await db.dispose();
  });

  it('listens on loopback on a port that is not 5432', () => {
    const u = new URL(open.conn.url);
    expect(u.hostname).toBe('127.0.0.1');
    expect(Number(u.port)).toBeGreaterThan(0);
    expect(u.port).not.toBe('5432');
  });

  it('keeps concurrent extended-protocol queries from different connections apart', async () => {
    const results = await Promise.all(
      clients.map(async (c, k) => {
        let wrong = 0;
        for (let i = 0; i < 150; i++) {
          const r = await c.query(`SELECT $1::int * ${k + 2} AS v, '${k}' AS k`, [i]);
          if (r.rows[0].v !== i * (k + 2) || r.rows[0].k !== String(k)) wrong++;
        }
        return wrong;
      }),
    );
    expect(results).toEqual([0, 0, 0]);
  });

  it("keeps a connection's Parse..Sync together when its messages arrive in separate packets", async () => {
    // Under load a client's Parse and its Bind/Execute/Sync can reach the server in separate reads;
    // another connection's Parse landing in between used to replace the unnamed statement
    // ("bind message supplies N parameters", wrong rows). See pglite-session-queue.ts.
    const [slow, ...fast] = clients;
    const restore = delayAfterParse(slow, 15);
    try {
      const slowRun = (async () => {
        const problems: string[] = [];
        for (let i = 0; i < 8; i++) {
          try {
            const r = await slow.query('SELECT $1::int AS a, $2::text AS b', [i, `slow-${i}`]);
            if (r.rows[0].a !== i || r.rows[0].b !== `slow-${i}`) problems.push(`wrong row ${JSON.stringify(r.rows[0])}`);
          } catch (error) {
            problems.push((error as Error).message);
          }
        }
        return problems;
      })();
      const fastRuns = fast.map(async (c, k) => {
        const problems: string[] = [];
        for (let i = 0; i < 40; i++) {
          try {
            const r = await c.query('SELECT $1::int * 3 AS v', [i + k]);
            if (r.rows[0].v !== (i + k) * 3) problems.push(`wrong row ${JSON.stringify(r.rows[0])}`);
          } catch (error) {
            problems.push((error as Error).message);
          }
          await sleep(2);
        }
        return problems;
      });
      expect(await Promise.all([slowRun, ...fastRuns])).toEqual(clients.map(() => []));
    } finally {
      restore();
    }
  });

  it('runs a transaction alone: other connections wait until it ends', async () => {
    const [a, b] = clients;
    await a.query('BEGIN');
    await a.query('INSERT INTO t VALUES (1)');
    let bDone = false;
    const bCount = b.query('SELECT count(*)::int AS n FROM t').then((r) => {
      bDone = true;
      return r.rows[0].n as number;
    });
    await sleep(200);
    expect(bDone).toBe(false);
    await a.query('COMMIT');
    expect(await bCount).toBe(1);
  });

  it('grants advisory locks across connections (one session), so only xact locks held inside a transaction exclude', async () => {
    const [a, b] = clients;
    await a.query('SELECT pg_advisory_lock(99)');
    const other = await b.query('SELECT pg_try_advisory_lock(99) AS got');
    expect(other.rows[0].got).toBe(true); // a real server would say false
    await a.query('SELECT pg_advisory_unlock_all()');

    await a.query('BEGIN');
    await a.query('SELECT pg_advisory_xact_lock(98)');
    let bRan = false;
    const bTx = (async () => {
      await b.query('BEGIN');
      bRan = true;
      await b.query('SELECT pg_advisory_xact_lock(98)');
      await b.query('COMMIT');
    })();
    await sleep(200);
    expect(bRan).toBe(false); // B cannot even begin while A's transaction is open
    await a.query('COMMIT');
    await bTx;
    expect(bRan).toBe(true);
  });

  it('lets other connections continue after a failed transaction is rolled back', async () => {
    const [a, b] = clients;
    await a.query('BEGIN');
    await expect(a.query('SELECT 1/0')).rejects.toThrow(/division by zero/);
    const bOne = b.query('SELECT 1 AS one');
    await a.query('ROLLBACK');
    expect((await bOne).rows[0].one).toBe(1);
  });
});
