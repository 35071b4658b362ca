import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG, type LetheConfig } from '../../config/config.js';

/** server_secret row holding the generated key (used when LETHE_AUDIT_SIGNING_KEY is unset). */
export const AUDIT_SIGNING_SECRET = 'audit_head_signing_key';

/**
 * The key that signs audit heads: LETHE_AUDIT_SIGNING_KEY when set, else 32 random bytes generated
 * once and stored in `server_secret`, so every replica signs with the same key and restarts keep
 * it. The first replica to insert wins (ON CONFLICT DO NOTHING); all then read the stored one.
 */
@Injectable()
export class AuditSigningKey {
  private key: Promise<Buffer> | undefined;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(CONFIG) private readonly config: LetheConfig,
  ) {}

  get(): Promise<Buffer> {
    this.key ??= this.load().catch((e: unknown) => {
      this.key = undefined; // retry on the next call (e.g. the database was briefly unreachable)
      throw e;
    });
    return this.key;
  }

  private async load(): Promise<Buffer> {
    if (this.config.auditSigningKey) return Buffer.from(this.config.auditSigningKey, 'utf8');
    await this.ds.query('INSERT INTO server_secret (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [AUDIT_SIGNING_SECRET, randomBytes(32)]);
    const rows: { value: Buffer | Uint8Array }[] = await this.ds.query('SELECT value FROM server_secret WHERE name = $1', [AUDIT_SIGNING_SECRET]);
    return Buffer.from(rows[0].value);
  }
}
