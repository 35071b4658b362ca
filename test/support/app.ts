/**
 * Boots the real application (src/main.ts bootstrap) on a test database, listening on a free
 * loopback port, for e2e tests over real HTTP with global fetch.
 *
 *   const db = await createTestDatabase('pglite');
 *   const app = await startTestApp({ database: db });
 *   const res = await fetch(`${app.baseUrl}/v1/adapters`, { headers: { authorization: `Bearer ${app.adminKey}` } });
 *   await app.close();                                   // stops the app, keeps the data
 *   const again = await startTestApp({ database: db, adminKey: app.adminKey }); // restart on same data
 *   await again.close(); await db.dispose();
 *
 * Without `database`, a fresh PGlite database is created and disposed by close().
 */
import type { INestApplication } from '@nestjs/common';
import { bootstrap } from '../../src/main.js';
import { generateApiKey } from '../../src/modules/auth/api-key-secret.js';
import { createTestDatabase, type TestBackend, type TestDatabase } from './database.js';

export interface TestApp {
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  /** The bootstrap admin secret (LETHE_ADMIN_KEY of this app). */
  adminKey: string;
  database: TestDatabase;
  app: INestApplication;
  /** Stops the app (and disposes the database if startTestApp created it). */
  close(): Promise<void>;
}

export interface TestAppOptions {
  database?: TestDatabase;
  /** Backend for a database created here (default pglite). */
  backend?: TestBackend;
  /** Default: a new random key. Pass the previous one to restart on the same data. */
  adminKey?: string;
  /** Extra environment variables (LETHE_BODY_LIMIT...). */
  env?: Record<string, string>;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const owned = !options.database;
  const database = options.database ?? (await createTestDatabase(options.backend ?? 'pglite'));
  const adminKey = options.adminKey ?? generateApiKey().secret;
  const config = database.config({ PORT: '0', HOST: '127.0.0.1', LETHE_ADMIN_KEY: adminKey, ...options.env });
  const started = await bootstrap(config);
  if (!started.url) throw new Error('the test app did not start HTTP (LETHE_ROLE=worker?)');
  return {
    baseUrl: started.url,
    adminKey,
    database,
    app: started.app,
    async close() {
      await started.close();
      if (owned) await database.dispose();
    },
  };
}

/** JSON over HTTP: `{ status, body }` (body parsed when JSON, text otherwise). */
export async function http(
  baseUrl: string,
  method: string,
  path: string,
  options: { key?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  let payload: string | undefined;
  if (options.rawBody !== undefined) payload = options.rawBody;
  else if (options.body !== undefined) payload = JSON.stringify(options.body);
  if (payload !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body: payload });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body, headers: res.headers };
}
