import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CONFIG, type LetheConfig } from '../../config/config.js';
import { AuditService, auditSubject } from '../audit/audit.service.js';
import { DomainError, ErrorCode } from '../common/domain-error.js';
import { apiKeyPrefix, generateApiKey, hashApiKey, hashesEqual, KEY_PATTERN } from './api-key-secret.js';
import type { ApiKeyEntity } from './api-key.entity.js';
import { ApiKeyRepository } from './api-key.repository.js';
import type { AuthPrincipal } from './auth.decorators.js';
import type { ApiKeyRole } from './roles.js';

/** Serialises bootstrap across replicas starting together. */
const BOOTSTRAP_LOCK_KEY = 7435003;
/** last_used_at is written at most this often per key, not on every request. */
const TOUCH_INTERVAL_MS = 60_000;

/** API keys: create (secret shown once), list, revoke, authenticate, bootstrap the first admin. */
@Injectable()
export class ApiKeyService implements OnApplicationBootstrap {
  private readonly log = new Logger('Auth');

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(ApiKeyRepository) private readonly repo: ApiKeyRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(CONFIG) private readonly config: LetheConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const created = await this.ensureBootstrapAdmin(this.config.adminKey);
    if (created && !this.config.adminKey) {
      this.log.warn(`bootstrap admin API key (shown once, store it now): ${created}`);
    } else if (created) {
      this.log.log('bootstrap admin API key taken from LETHE_ADMIN_KEY');
    }
  }

  /**
   * Makes sure an admin can log in: stores `adminKey` (LETHE_ADMIN_KEY) if it is not stored yet,
   * or, when no key is given and no active admin exists, generates one. Returns the secret that
   * was stored now, or undefined when nothing changed.
   */
  async ensureBootstrapAdmin(adminKey: string | undefined): Promise<string | undefined> {
    return this.ds.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK_KEY]);
      if (adminKey) {
        if (await this.repo.findByHash(hashApiKey(adminKey), m)) return undefined;
      } else if ((await this.repo.countActiveAdmins(m)) > 0) {
        return undefined;
      }
      const secret = adminKey ?? generateApiKey().secret;
      const key = await this.repo.insert({ name: 'bootstrap admin', role: 'admin', prefix: apiKeyPrefix(secret), hash: hashApiKey(secret) }, m);
      await this.audit.record({ actor: 'system', action: 'api_key.create', subject: auditSubject('api_key', key.id), details: { name: key.name, role: 'admin', bootstrap: true } }, m);
      return secret;
    });
  }

  /** Creates a key; the returned `secret` is never stored and cannot be shown again. */
  async create(input: { name: string; role: ApiKeyRole }, actor: string): Promise<{ key: ApiKeyEntity; secret: string }> {
    const { secret, prefix, hash } = generateApiKey();
    const key = await this.ds.transaction(async (m) => {
      const row = await this.repo.insert({ name: input.name, role: input.role, prefix, hash }, m);
      await this.audit.record({ actor, action: 'api_key.create', subject: auditSubject('api_key', row.id), details: { name: input.name, role: input.role } }, m);
      return row;
    });
    return { key, secret };
  }

  list(): Promise<ApiKeyEntity[]> {
    return this.repo.list();
  }

  /**
   * Revokes a key; 404 if unknown, 409 if already revoked. The conditional UPDATE (`WHERE
   * revoked_at IS NULL`) makes concurrent revokes, on any replica, succeed exactly once: the row
   * lock makes the others wait, re-check and match nothing, so they get 409 and write no audit row.
   */
  async revoke(id: string, actor: string): Promise<ApiKeyEntity> {
    return this.ds.transaction(async (m) => {
      const key = await this.repo.markRevoked(id, m);
      if (!key) {
        if (!(await this.repo.findById(id, m))) throw DomainError.notFound('api key', id);
        throw new DomainError(ErrorCode.CONFLICT, `api key ${id} is already revoked`, { id });
      }
      await this.audit.record({ actor, action: 'api_key.revoke', subject: auditSubject('api_key', id), details: { name: key.name, role: key.role } }, m);
      return key;
    });
  }

  /** The principal for a presented secret, or undefined for an unknown or revoked key. */
  async authenticate(secret: string): Promise<AuthPrincipal | undefined> {
    if (!KEY_PATTERN.test(secret)) return undefined;
    const hash = hashApiKey(secret);
    // Look up by the non-secret prefix, then compare digests in constant time.
    const match = (await this.repo.findByPrefix(apiKeyPrefix(secret))).find((k) => hashesEqual(k.hash, hash));
    if (!match || match.revokedAt) return undefined;
    const now = new Date();
    if (!match.lastUsedAt || now.getTime() - match.lastUsedAt.getTime() > TOUCH_INTERVAL_MS) {
      this.repo.touch(match.id, now).catch((e: unknown) => this.log.warn(`could not record key use: ${String(e)}`));
    }
    return { keyId: match.id, name: match.name, role: match.role };
  }
}
