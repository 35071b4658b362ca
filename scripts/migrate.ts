/**
 * Migrations from the command line: `npm run migration:run`, `npm run migration:revert`
 * (reverts the last one), `tsx scripts/migrate.ts show`. Uses DATABASE_URL, or the embedded
 * database under LETHE_DATA_DIR when unset (stop the service first: PGlite allows one process).
 */
import 'reflect-metadata';
import { loadConfig } from '../src/config/config.js';
import { DatabaseConnection } from '../src/modules/database/database-connection.js';
import { createDataSource, runMigrations } from '../src/modules/database/data-source.js';

async function main(command: string | undefined): Promise<void> {
  const config = loadConfig();
  const conn = await DatabaseConnection.open(config);
  const ds = createDataSource(conn.url, conn.embedded);
  await ds.initialize();
  try {
    console.log(`database: ${conn.description}`);
    if (command === 'run') {
      const ran = await runMigrations(ds, conn.embedded);
      console.log(ran.length ? `applied: ${ran.join(', ')}` : 'nothing to apply');
    } else if (command === 'revert') {
      await ds.undoLastMigration({ transaction: 'each' });
      console.log('reverted the last migration');
    } else if (command === 'show') {
      const pending = await ds.showMigrations();
      console.log(pending ? 'migrations are pending' : 'up to date');
    } else {
      throw new Error(`usage: tsx scripts/migrate.ts run|revert|show (got ${command ?? 'nothing'})`);
    }
  } finally {
    await ds.destroy();
    await conn.close();
  }
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
