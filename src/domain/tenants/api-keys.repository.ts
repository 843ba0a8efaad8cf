import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { ApiKeyEntity } from './api-key.entity';

/** Every statement on API key rows. */
@Injectable()
export class ApiKeysRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async insert(
    m: EntityManager,
    key: Omit<ApiKeyEntity, 'createdAt' | 'lastUsedAt' | 'revokedAt'>,
  ): Promise<ApiKeyEntity> {
    await m.query(
      `INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      [key.id, key.tenantId, key.name, key.prefix, key.keyHash, key.expiresAt],
    );
    return m.findOneByOrFail(ApiKeyEntity, { id: key.id });
  }

  find(id: string): Promise<ApiKeyEntity | null> {
    return this.db.manager.findOneBy(ApiKeyEntity, { id });
  }

  /** The key whose hash this is, usable or not (the caller checks revocation, expiry and tenant). */
  findByHash(keyHash: string): Promise<ApiKeyEntity | null> {
    return this.db.manager.findOneBy(ApiKeyEntity, { keyHash });
  }

  /** Keys, newest first; one tenant's when given. */
  list(tenantId?: string): Promise<ApiKeyEntity[]> {
    return this.db.manager.find(ApiKeyEntity, {
      where: tenantId === undefined ? {} : { tenantId },
      order: { createdAt: 'DESC', id: 'DESC' },
    });
  }

  /** Revokes the key; null when it is unknown. A key revoked already keeps its first revocation time. */
  async revoke(m: EntityManager, id: string): Promise<{ key: ApiKeyEntity; changed: boolean } | null> {
    // TypeORM answers an UPDATE with [rows, affected count].
    const [, affected] = (await m.query(
      `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`,
      [id],
    )) as [unknown[], number];
    const key = await m.findOneBy(ApiKeyEntity, { id });
    return key ? { key, changed: affected > 0 } : null;
  }

  /** Records a use, unless one was recorded within the last minute (by any replica). */
  async touch(id: string): Promise<void> {
    await this.db.query(
      `UPDATE api_keys SET last_used_at = now()
        WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
      [id],
    );
  }

  /** Whether any key would open the API now: not revoked, not expired, of a tenant not disabled. */
  async anyUsable(): Promise<boolean> {
    const [{ found }] = (await this.db.query(
      `SELECT EXISTS (
         SELECT 1 FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
          WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()) AND t.disabled_at IS NULL
       ) AS found`,
    )) as { found: boolean }[];
    return found;
  }
}
