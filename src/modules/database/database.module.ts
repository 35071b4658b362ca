import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { DatabaseConnection } from './database-connection.js';
import { DatabaseEvents } from './database-events.service.js';
import { createDataSource, runMigrations } from './data-source.js';

/**
 * Closes the database last: onApplicationShutdown runs after every module's onModuleDestroy and
 * beforeApplicationShutdown, so stop queues and workers in those hooks.
 */
@Injectable()
class DatabaseLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(DatabaseConnection) private readonly conn: DatabaseConnection,
    @Inject(DatabaseEvents) private readonly events: DatabaseEvents,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.events.close();
    if (this.ds.isInitialized) await this.ds.destroy();
    await this.conn.close();
  }
}

/** The database: DatabaseConnection (url, embedded), a migrated TypeORM DataSource, DatabaseEvents. */
@Global()
@Module({
  providers: [
    {
      provide: DatabaseConnection,
      inject: [CONFIG],
      useFactory: (config: LetheConfig) => DatabaseConnection.open(config),
    },
    {
      provide: DataSource,
      inject: [DatabaseConnection],
      useFactory: async (conn: DatabaseConnection) => {
        const ds = createDataSource(conn.url, conn.embedded);
        await ds.initialize();
        await runMigrations(ds, conn.embedded);
        return ds;
      },
    },
    DatabaseEvents,
    DatabaseLifecycle,
  ],
  exports: [DatabaseConnection, DataSource, DatabaseEvents],
})
export class DatabaseModule {}
