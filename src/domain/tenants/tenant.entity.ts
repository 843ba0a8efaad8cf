import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Per-tenant overrides of the environment's defaults. A field absent (or null) leaves the
 * environment's value in force: THROTTLE_TIERS for the multiplier, BATCH_ENQUEUED_TOKEN_LIMIT,
 * BATCH_MAX_ACTIVE_PER_TENANT. 0 = unlimited, as in the environment.
 */
export interface TenantLimits {
  rate_limit_multiplier?: number | null;
  enqueued_token_limit?: number | null;
  max_active_batches?: number | null;
}

export const TENANT_LIMIT_FIELDS = [
  'rate_limit_multiplier',
  'enqueued_token_limit',
  'max_active_batches',
] as const;

/** The rule of tenant names, shared with API_KEYS. */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

@Entity('tenants')
export class TenantEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  /** A THROTTLE_TIERS name; null = the tier API_KEYS gives the key (else "default"). */
  @Column({ type: 'varchar', length: 64, nullable: true })
  tier!: string | null;

  @Column({ type: 'jsonb', default: () => "'{}'::jsonb" })
  limits!: TenantLimits;

  @Column({ name: 'disabled_at', type: 'timestamptz', nullable: true })
  disabledAt!: Date | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
