import { Column, Entity, PrimaryColumn } from 'typeorm';

export const API_KEY_ROLES = ['admin', 'operator', 'client'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

/** An API key; only the sha256 of the secret is stored. */
@Entity('api_key')
export class ApiKeyEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('text') name: string;
  @Column('text') role: ApiKeyRole;
  /** First characters of the secret, shown in listings and used to find the row. */
  @Column('text') prefix: string;
  @Column('char', { length: 64 }) hash: string;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'revoked_at', nullable: true }) revokedAt: Date | null;
  @Column('timestamptz', { name: 'last_used_at', nullable: true }) lastUsedAt: Date | null;
}
