import { Column, PrimaryColumn } from 'typeorm';

/** The columns every tenant's row starts with: its public id and the tenant that owns it. */
export abstract class TenantRow {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'tenant_id', type: 'varchar', length: 64 })
  tenantId!: string;
}
