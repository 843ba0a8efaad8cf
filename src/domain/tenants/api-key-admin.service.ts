import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ApiError } from '../../common/api-error';
import { toUnixSeconds } from '../../common/clock';
import { newApiKeyId } from '../../common/ids';
import { AdminActor } from './admin-actor';
import { AdminAuditRepository } from './admin-audit.repository';
import { ApiKeyEntity } from './api-key.entity';
import { newApiKey } from './api-key-material';
import { ApiKeysRepository } from './api-keys.repository';
import { KeyDirectory } from './key-directory.service';
import { TenantAdminService, entry } from './tenant-admin.service';
import { keyNotFound, tenantDisabled } from './tenant-errors';

/**
 * API keys made, listed and revoked through the admin API. A key is shown once, when made; the
 * database keeps its hash. A revoked key stops working on every replica once their caches of it
 * lapse (see ApiKeyService).
 */
@Injectable()
export class ApiKeyAdminService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly keys: ApiKeysRepository,
    private readonly tenants: TenantAdminService,
    private readonly audit: AdminAuditRepository,
    private readonly directory: KeyDirectory,
  ) {}

  /** Makes a key for the tenant; returns its row and the key itself, which is not kept. */
  async create(
    input: { tenant: string; name: string | null; expiresAt: Date | null },
    who: AdminActor,
  ): Promise<{ row: ApiKeyEntity; key: string }> {
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
      throw ApiError.badRequest(
        "Invalid 'expires_at': it must be in the future.",
        'expires_at',
        'invalid_value',
      );
    }
    const material = newApiKey();
    const row = await this.db.transaction(async (m) => {
      const tenant = await this.tenants.lockOrAdopt(m, input.tenant, 'tenant');
      if (tenant.disabledAt) throw tenantDisabled(tenant.id);
      const created = await this.keys.insert(m, {
        id: newApiKeyId(),
        tenantId: tenant.id,
        name: input.name,
        prefix: material.prefix,
        keyHash: material.hash,
        expiresAt: input.expiresAt,
      });
      await this.audit.record(
        m,
        entry(
          who,
          'key.create',
          created.id,
          { name: created.name, prefix: created.prefix, expires_at: toUnixSeconds(created.expiresAt) },
          tenant.id,
        ),
      );
      return created;
    });
    this.directory.forgetAll();
    return { row, key: material.key };
  }

  list(tenant?: string): Promise<ApiKeyEntity[]> {
    return this.keys.list(tenant);
  }

  async revoke(id: string, who: AdminActor): Promise<ApiKeyEntity> {
    const key = await this.db.transaction(async (m) => {
      const revoked = await this.keys.revoke(m, id);
      if (!revoked) throw keyNotFound(id);
      const { key, changed } = revoked;
      if (changed)
        await this.audit.record(
          m,
          entry(who, 'key.revoke', key.id, { name: key.name, prefix: key.prefix }, key.tenantId),
        );
      return key;
    });
    this.directory.forgetAll();
    return key;
  }
}
