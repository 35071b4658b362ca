import { EventEmitter } from 'node:events';
import { Inject, Injectable, Logger } from '@nestjs/common';
import pg from 'pg';
import { DatabaseConnection } from './database-connection.js';

export type NotificationHandler = (payload: string) => void;

/**
 * LISTEN/NOTIFY behind one class. On a server, notifications go through Postgres so every replica
 * hears them; on the embedded database they are delivered in-process (see database-connection.ts).
 */
@Injectable()
export class DatabaseEvents {
  private readonly log = new Logger(DatabaseEvents.name);
  private readonly local = new EventEmitter();
  private client?: Promise<pg.Client>;
  private readonly channels = new Set<string>();

  constructor(@Inject(DatabaseConnection) private readonly db: DatabaseConnection) {
    this.local.setMaxListeners(0);
  }

  /** Sends `payload` on `channel`. Call after the state change has committed. */
  async notify(channel: string, payload: string): Promise<void> {
    if (this.db.embedded) {
      setImmediate(() => this.local.emit(channel, payload));
      return;
    }
    const c = await this.connect();
    await c.query('SELECT pg_notify($1, $2)', [channel, payload]);
  }

  /** Calls `handler` for every notification on `channel`; returns an unsubscribe function. */
  async listen(channel: string, handler: NotificationHandler): Promise<() => void> {
    this.local.on(channel, handler);
    if (!this.db.embedded && !this.channels.has(channel)) {
      this.channels.add(channel);
      const c = await this.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    return () => this.local.off(channel, handler);
  }

  /** Closes the dedicated listening connection. */
  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await (await c).end().catch(() => undefined);
  }

  private connect(): Promise<pg.Client> {
    this.client ??= (async () => {
      const c = new pg.Client({ connectionString: this.db.url });
      c.on('notification', (n) => this.local.emit(n.channel, n.payload ?? ''));
      c.on('error', (e) => this.log.warn(`notification connection error: ${e.message}`));
      await c.connect();
      return c;
    })();
    return this.client;
  }
}
