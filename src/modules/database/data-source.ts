import { DataSource, type DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../../migrations/index.js';
import { ENTITIES } from './entities.js';

/** Connections in TypeORM's pool (see database-connection.ts for why embedded is small). */
export const POOL_SIZE = { embedded: 4, server: 10 } as const;

/**
 * The one place TypeORM is configured: the app, scripts/migrate.ts and tests all build their
 * DataSource here. `synchronize` stays off; the schema comes only from migrations/.
 */
export function dataSourceOptions(url: string, embedded: boolean): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'typeorm_migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false, // failed queries surface as errors where they happen
    extra: { max: embedded ? POOL_SIZE.embedded : POOL_SIZE.server },
  };
}

/** A new, not yet initialised DataSource on `url`. */
export function createDataSource(url: string, embedded: boolean): DataSource {
  return new DataSource(dataSourceOptions(url, embedded));
}

/**
 * Runs pending migrations. On a server a session advisory lock keeps replicas that start together
 * from migrating twice; the embedded database has one process, and session locks do not exclude
 * there anyway (one shared session).
 */
export async function runMigrations(ds: DataSource, embedded: boolean): Promise<string[]> {
  if (embedded) return (await ds.runMigrations({ transaction: 'each' })).map((m) => m.name);
  const runner = ds.createQueryRunner();
  try {
    await runner.query('SELECT pg_advisory_lock(7435001)');
    return (await ds.runMigrations({ transaction: 'each' })).map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock(7435001)').catch(() => undefined);
    await runner.release();
  }
}
