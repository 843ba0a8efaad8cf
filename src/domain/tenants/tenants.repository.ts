import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { TenantEntity, TenantLimits } from './tenant.entity';

/** Every statement on tenant rows. Writes take the caller's transaction, which also writes the audit row. */
@Injectable()
export class TenantsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  find(id: string, m: EntityManager = this.db.manager): Promise<TenantEntity | null> {
    return m.findOneBy(TenantEntity, { id });
  }

  /** The row, locked until the transaction ends, so two admins' changes to one tenant take turns. */
  findForUpdate(m: EntityManager, id: string): Promise<TenantEntity | null> {
    return m
      .createQueryBuilder(TenantEntity, 't')
      .setLock('pessimistic_write')
      .where('t.id = :id', { id })
      .getOne();
  }

  list(): Promise<TenantEntity[]> {
    return this.db.manager.find(TenantEntity, { order: { id: 'ASC' } });
  }

  /** Inserts the tenant; null when a row with its id exists already. */
  async insert(
    m: EntityManager,
    tenant: { id: string; tier: string | null; limits: TenantLimits },
  ): Promise<TenantEntity | null> {
    const rows = (await m.query(
      `INSERT INTO tenants (id, tier, limits) VALUES ($1, $2, $3::jsonb)
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [tenant.id, tenant.tier, JSON.stringify(tenant.limits)],
    )) as { id: string }[];
    return rows.length ? this.find(tenant.id, m) : null;
  }

  /** Writes the tenant's settings and disabled state as given, and stamps updated_at. */
  async update(
    m: EntityManager,
    tenant: Pick<TenantEntity, 'id' | 'tier' | 'limits' | 'disabledAt'>,
  ): Promise<TenantEntity> {
    await m.query(
      `UPDATE tenants SET tier = $2, limits = $3::jsonb, disabled_at = $4, updated_at = now() WHERE id = $1`,
      [tenant.id, tenant.tier, JSON.stringify(tenant.limits), tenant.disabledAt],
    );
    return m.findOneByOrFail(TenantEntity, { id: tenant.id });
  }
}
