import { Column, Entity, PrimaryColumn } from 'typeorm';

const bigintToNumber = { to: (v: number) => v, from: (v: string | null) => (v === null ? null : Number(v)) };

/** One row of the append-only, hash-chained audit log (DESIGN §6). */
@Entity('audit_event')
export class AuditEventEntity {
  @PrimaryColumn('bigint', { transformer: bigintToNumber }) seq: number;
  @Column('timestamptz') at: Date;
  @Column('text') actor: string;
  @Column('text') action: string;
  @Column('text') subject: string;
  @Column('jsonb') details: Record<string, unknown>;
  @Column('char', { name: 'prev_hash', length: 64 }) prevHash: string;
  @Column('char', { length: 64 }) hash: string;
}
