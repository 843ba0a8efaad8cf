import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../../common/bigint-as-number';

export const AUDIT_ACTIONS = [
  'tenant.create',
  'tenant.update',
  'tenant.disable',
  'tenant.enable',
  'key.create',
  'key.revoke',
  'webhook.set',
  'webhook.delete',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One change made through the admin API: who, what, when, from where. Never holds a secret. */
@Entity('admin_audit')
export class AdminAuditEntity {
  /** bigserial: rows are written by SQL (AdminAuditRepository.record), which lets the sequence number them. */
  @PrimaryColumn({ type: 'bigint', transformer: bigintAsNumber })
  id!: number;

  @Column({ type: 'timestamptz' })
  at!: Date;

  @Column({ type: 'text' })
  actor!: string;

  @Column({ type: 'varchar', length: 32 })
  action!: AuditAction;

  @Column({ type: 'text' })
  target!: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64, nullable: true })
  tenantId!: string | null;

  @Column({ type: 'text', nullable: true })
  address!: string | null;

  @Column({ type: 'jsonb' })
  details!: Record<string, unknown>;
}
