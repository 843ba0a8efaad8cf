import { Inject, Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { APP_CONFIG, AppConfig, WebhookEndpoint } from '../../platform/config/app-config';
import { SECRET_BOX } from '../../platform/secrets/secrets.module';
import { SecretBox, SecretBoxError } from '../../platform/secrets/secret-box';
import { TenantWebhookRow, TenantWebhooksRepository } from './tenant-webhooks.repository';

/** Where a tenant's events go and every secret that signs them, the current one first. */
export interface ResolvedWebhookEndpoint {
  url: string;
  secrets: string[];
}

/** A stored secret this process cannot read: the job fails and the event waits (the sweep retries). */
export class WebhookSecretUnreadable extends Error {}

/**
 * How long a tenant's row is trusted before being read again: a change through the admin API on
 * another process reaches deliveries within this.
 */
export const WEBHOOK_ENDPOINT_CACHE_MS = 2_000;

/** The additional authenticated data of a tenant's sealed secrets: they open for that tenant only. */
export const webhookSecretContext = (tenantId: string): string => `tenant_webhooks:${tenantId}`;

/**
 * The one place that answers where a tenant's events go and which secrets sign them. A
 * tenant_webhooks row (set through the admin API) overrides the tenant's WEBHOOKS entry, also when
 * it records a removal; rows are cached for WEBHOOK_ENDPOINT_CACHE_MS, so a change takes effect
 * without a restart. A rotated-out secret keeps signing until its expiry, checked at each call.
 */
@Injectable()
export class WebhookEndpoints {
  private readonly cache = new Map<string, { row: TenantWebhookRow | null; readAt: number }>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(SECRET_BOX) private readonly box: SecretBox | null,
    private readonly rows: TenantWebhooksRepository,
    private readonly clock: Clock,
  ) {}

  /** Whether the tenant's events should be written (no secret is opened). */
  async has(tenantId: string): Promise<boolean> {
    const row = await this.row(tenantId);
    return row ? row.url !== null : this.fromEnvironment(tenantId) !== null;
  }

  /** URL and valid secrets, or null when the tenant has no webhook. Throws WebhookSecretUnreadable. */
  async forTenant(tenantId: string): Promise<ResolvedWebhookEndpoint | null> {
    const row = await this.row(tenantId);
    if (!row) {
      const env = this.fromEnvironment(tenantId);
      return env && { url: env.url, secrets: [env.secret] };
    }
    if (row.url === null || row.secretEnc === null) return null;
    const secrets = [this.open(tenantId, row.secretEnc)];
    if (
      row.previousSecretEnc &&
      row.previousSecretExpiresAt &&
      row.previousSecretExpiresAt > this.clock.now()
    )
      secrets.push(this.open(tenantId, row.previousSecretEnc));
    return { url: row.url, secrets };
  }

  /** The tenant's WEBHOOKS entry, or null. */
  fromEnvironment(tenantId: string): WebhookEndpoint | null {
    return Object.hasOwn(this.config.webhooks.endpoints, tenantId)
      ? this.config.webhooks.endpoints[tenantId]
      : null;
  }

  /** Drops the tenant's cached row: this process's next question reads it again. */
  forget(tenantId: string): void {
    this.cache.delete(tenantId);
  }

  private async row(tenantId: string): Promise<TenantWebhookRow | null> {
    const now = Date.now();
    const hit = this.cache.get(tenantId);
    if (hit && now - hit.readAt < WEBHOOK_ENDPOINT_CACHE_MS) return hit.row;
    const row = await this.rows.find(tenantId);
    this.cache.set(tenantId, { row, readAt: now });
    return row;
  }

  private open(tenantId: string, sealed: string): string {
    // Never the secret, nor the sealed value: what is wrong and what to set.
    if (!this.box) {
      throw new WebhookSecretUnreadable(
        `the webhook secret of tenant ${tenantId} is stored encrypted and SECRETS_ENCRYPTION_KEY is not set ` +
          'in this process: set it to the key the API stored it with',
      );
    }
    try {
      return this.box.open(sealed, webhookSecretContext(tenantId));
    } catch (err) {
      if (!(err instanceof SecretBoxError)) throw err;
      throw new WebhookSecretUnreadable(
        `the webhook secret of tenant ${tenantId} cannot be decrypted: ${err.message} ` +
          '(is SECRETS_ENCRYPTION_KEY the key the API stored it with?)',
      );
    }
  }
}
