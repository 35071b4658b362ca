import { Inject, Injectable } from '@nestjs/common';
import { DataSource, IsNull, type EntityManager } from 'typeorm';
import { ApiKeyEntity } from './api-key.entity.js';

/** Named queries over `api_key`. */
@Injectable()
export class ApiKeyRepository {
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}

  private repo(manager?: EntityManager) {
    return (manager ?? this.ds.manager).getRepository(ApiKeyEntity);
  }

  async insert(row: Pick<ApiKeyEntity, 'name' | 'role' | 'prefix' | 'hash'>, manager?: EntityManager): Promise<ApiKeyEntity> {
    const rows: { id: string }[] = await (manager ?? this.ds.manager).query(
      'INSERT INTO api_key (name, role, prefix, hash) VALUES ($1, $2, $3, $4) RETURNING id',
      [row.name, row.role, row.prefix, row.hash],
    );
    return this.repo(manager).findOneByOrFail({ id: rows[0].id });
  }

  findByPrefix(prefix: string): Promise<ApiKeyEntity[]> {
    return this.repo().findBy({ prefix });
  }

  findByHash(hash: string, manager?: EntityManager): Promise<ApiKeyEntity | null> {
    return this.repo(manager).findOneBy({ hash });
  }

  findById(id: string, manager?: EntityManager): Promise<ApiKeyEntity | null> {
    return this.repo(manager).findOneBy({ id });
  }

  list(): Promise<ApiKeyEntity[]> {
    return this.repo().find({ order: { createdAt: 'ASC', id: 'ASC' } });
  }

  countActiveAdmins(manager?: EntityManager): Promise<number> {
    return this.repo(manager).countBy({ role: 'admin', revokedAt: IsNull() });
  }

  /** Revokes the key if it is not revoked yet; the revoked row, or null when nothing changed (unknown or already revoked). */
  async markRevoked(id: string, manager: EntityManager): Promise<ApiKeyEntity | null> {
    // In a CTE so that query() returns the rows (a bare UPDATE returns [rows, count]).
    const rows: { id: string }[] = await manager.query(
      'WITH r AS (UPDATE api_key SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id) SELECT id FROM r',
      [id],
    );
    return rows[0] ? this.repo(manager).findOneByOrFail({ id }) : null;
  }

  async touch(id: string, at: Date): Promise<void> {
    await this.repo().update({ id }, { lastUsedAt: at });
  }
}
