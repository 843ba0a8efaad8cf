import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AdminAuditEntity, AuditAction } from './admin-audit.entity';

export interface AuditEntry {
  actor: string;
  address: string | null;
  action: AuditAction;
  target: string;
  tenantId: string | null;
  details: Record<string, unknown>;
}

/** The admin audit trail: written in the transaction of the change it records, read newest first. */
@Injectable()
export class AdminAuditRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async record(m: EntityManager, entry: AuditEntry): Promise<void> {
    await m.query(
      `INSERT INTO admin_audit (actor, action, target, tenant_id, address, details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
      [entry.actor, entry.action, entry.target, entry.tenantId, entry.address, JSON.stringify(entry.details)],
    );
  }

  list(tenantId: string | undefined, limit: number): Promise<AdminAuditEntity[]> {
    return this.db.manager.find(AdminAuditEntity, {
      where: tenantId === undefined ? {} : { tenantId },
      order: { id: 'DESC' },
      take: limit,
    });
  }
}
