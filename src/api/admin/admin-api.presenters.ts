import { toUnixSeconds } from '../../common/clock';
import type { AdminAuditEntity } from '../../domain/tenants/admin-audit.entity';
import type { ApiKeyEntity } from '../../domain/tenants/api-key.entity';
import type { TenantRecord } from '../../domain/tenants/tenant-admin.service';
import type { TenantWebhookSecret } from '../../domain/webhooks/tenant-webhooks.service';
import type {
  ApiKeyObjectDto,
  AuditEntryDto,
  TenantObjectDto,
  WebhookEndpointObjectDto,
} from './admin-api.dto';

export function tenantObject(t: TenantRecord): TenantObjectDto {
  const { webhook } = t;
  return {
    object: 'tenant',
    id: t.id,
    tier: t.tier,
    limits: t.limits,
    disabled: t.disabled,
    source: t.source,
    created_at: toUnixSeconds(t.createdAt),
    updated_at: toUnixSeconds(t.updatedAt),
    webhook: webhook && {
      url: webhook.url,
      source: webhook.source,
      secret_rotated_at: toUnixSeconds(webhook.secretRotatedAt),
      previous_secret_expires_at: toUnixSeconds(webhook.previousSecretExpiresAt),
    },
  };
}

/** The answer to setting a webhook: the one time its secret is shown. */
export function webhookEndpointObject(tenant: string, set: TenantWebhookSecret): WebhookEndpointObjectDto {
  return {
    object: 'webhook_endpoint',
    tenant,
    url: set.url,
    secret: set.secret,
    previous_secret_expires_at: toUnixSeconds(set.previousSecretExpiresAt),
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
