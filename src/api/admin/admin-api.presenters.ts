import { toUnixSeconds } from '../../common/clock';
import type { AdminAuditEntity } from '../../domain/tenants/admin-audit.entity';
import type { ApiKeyEntity } from '../../domain/tenants/api-key.entity';
import type { TenantRecord } from '../../domain/tenants/tenant-admin.service';
import type { WebhookEndpoint } from '../../platform/config/app-config';
import type { ApiKeyObjectDto, AuditEntryDto, TenantObjectDto } from './admin-api.dto';

export function tenantObject(t: TenantRecord, webhook: WebhookEndpoint | null): TenantObjectDto {
  return {
    object: 'tenant',
    id: t.id,
    tier: t.tier,
    limits: t.limits,
    disabled: t.disabled,
    source: t.source,
    created_at: toUnixSeconds(t.createdAt),
    updated_at: toUnixSeconds(t.updatedAt),
    webhook: webhook && { url: webhook.url, secret_rotated_at: null, previous_secret_expires_at: null },
  };
}

/** A key as listed: never the key itself, which the database does not hold anyway. */
export function apiKeyObject(k: ApiKeyEntity): ApiKeyObjectDto {
  return {
    object: 'api_key',
    id: k.id,
    tenant: k.tenantId,
    name: k.name,
    prefix: `${k.prefix}…`,
    created_at: toUnixSeconds(k.createdAt)!,
    last_used_at: toUnixSeconds(k.lastUsedAt),
    expires_at: toUnixSeconds(k.expiresAt),
    revoked_at: toUnixSeconds(k.revokedAt),
  };
}

export function auditEntry(a: AdminAuditEntity): AuditEntryDto {
  return {
    object: 'audit_entry',
    id: a.id,
    at: toUnixSeconds(a.at)!,
    actor: a.actor,
    action: a.action,
    target: a.target,
    tenant: a.tenantId,
    address: a.address,
    details: a.details,
  };
}

export const list = <T>(data: T[]): { object: 'list'; data: T[] } => ({ object: 'list', data });
