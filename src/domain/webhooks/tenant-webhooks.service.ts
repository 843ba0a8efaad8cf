import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { ApiError } from '../../common/api-error';
import { Clock } from '../../common/clock';
import { APP_CONFIG, AppConfig, isWebhookUrl, WEBHOOK_URL_RULE } from '../../platform/config/app-config';
import { SECRET_BOX } from '../../platform/secrets/secrets.module';
import { SecretBox } from '../../platform/secrets/secret-box';
import { TenantWebhookRow, TenantWebhooksRepository } from './tenant-webhooks.repository';
import { webhookSecretContext, WebhookEndpoints } from './webhook-endpoints.service';

/** The answer to setting a tenant's webhook: the only time its secret is shown. */
export interface TenantWebhookSecret {
  url: string;
  /** `whsec_` + base64 of 32 random bytes (Standard Webhooks). Show once; never log or store in clear. */
  secret: string;
  /** Until when the replaced secret keeps signing too; null when nothing was replaced (or no grace). */
  previousSecretExpiresAt: Date | null;
}

/** A tenant's webhook as shown to admins: never a secret. */
export interface TenantWebhookDescription {
  url: string;
  /** When the current secret was made; null for a WEBHOOKS entry (the environment holds its secret). */
  secretRotatedAt: Date | null;
  /** While the replaced secret still signs, until when; else null. */
  previousSecretExpiresAt: Date | null;
  /** database: set through the admin API; environment: the tenant's WEBHOOKS entry. */
  source: 'database' | 'environment';
}

const SECRET_BYTES = 32;

/**
 * Tenants' webhook endpoints managed at runtime (the admin API's calls). Secrets are generated
 * here, shown once, and stored sealed under SECRETS_ENCRYPTION_KEY; a new secret replaces the
 * current one, which keeps signing for WEBHOOK_SECRET_ROTATION_GRACE_SECONDS. Each method takes the
 * caller's transaction (`m`) so the caller's audit row commits with the change.
 */
@Injectable()
export class TenantWebhooksService {
  constructor(
    private readonly rows: TenantWebhooksRepository,
    private readonly endpoints: WebhookEndpoints,
    @Inject(SECRET_BOX) private readonly box: SecretBox | null,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectDataSource() private readonly db: DataSource,
    private readonly clock: Clock,
  ) {}

  /**
   * Points the tenant's events at `url` with a fresh secret (returned, never again). The secret
   * signing until now (a previous `set`, or the tenant's WEBHOOKS entry) keeps signing until
   * `previousSecretExpiresAt`. Throws ApiError 400 `secrets_encryption_key_missing` without
   * SECRETS_ENCRYPTION_KEY, 400 `invalid_url` for a URL that is not http(s).
   */
  async set(tenantId: string, url: string, m?: EntityManager): Promise<TenantWebhookSecret> {
    const box = this.requireBox();
    if (!isWebhookUrl(url)) throw ApiError.badRequest(`url ${WEBHOOK_URL_RULE}`, 'url', 'invalid_url');
    const context = webhookSecretContext(tenantId);
    const secret = `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;
    const at = this.clock.now();
    const grace = this.config.webhooks.rotationGraceSeconds;
    const env = this.endpoints.fromEnvironment(tenantId);
    const row = await this.rows.upsert(
      {
        tenantId,
        url,
        secretEnc: box.seal(secret, context),
        fallbackPreviousEnc: env ? box.seal(env.secret, context) : null,
        previousExpiresAt: grace > 0 ? new Date(at.getTime() + grace * 1000) : null,
        at,
      },
      m,
    );
    this.endpoints.forget(tenantId);
    return { url, secret, previousSecretExpiresAt: row.previousSecretExpiresAt };
  }

  /**
   * The tenant gets no more events (pending ones are dropped at their next attempt), also when it
   * has a WEBHOOKS entry. Returns whether it had a webhook.
   */
  async remove(tenantId: string, m?: EntityManager): Promise<boolean> {
    const had = await this.inTransaction(m, async (tx) => {
      const row = await this.rows.lock(tenantId, tx);
      const before = row ? row.url !== null : this.endpoints.fromEnvironment(tenantId) !== null;
      // A row with no url is needed only to silence a WEBHOOKS entry.
      if (this.endpoints.fromEnvironment(tenantId))
        await this.rows.markRemoved(tenantId, this.clock.now(), tx);
      else if (row) await this.rows.delete(tenantId, tx);
      return before;
    });
    this.endpoints.forget(tenantId);
    return had;
  }

  /** The tenant's webhook without its secret, or null when it has none. */
  async describe(tenantId: string, m?: EntityManager): Promise<TenantWebhookDescription | null> {
    return this.describeRow(tenantId, await this.rows.find(tenantId, m));
  }

  /** describe() for several tenants in one query; tenants without a webhook map to null. */
  async describeMany(
    tenantIds: string[],
    m?: EntityManager,
  ): Promise<Map<string, TenantWebhookDescription | null>> {
    const rows = new Map((await this.rows.findMany(tenantIds, m)).map((r) => [r.tenantId, r]));
    return new Map(tenantIds.map((id) => [id, this.describeRow(id, rows.get(id) ?? null)]));
  }

  private describeRow(tenantId: string, row: TenantWebhookRow | null): TenantWebhookDescription | null {
    if (!row) {
      const env = this.endpoints.fromEnvironment(tenantId);
      return (
        env && { url: env.url, secretRotatedAt: null, previousSecretExpiresAt: null, source: 'environment' }
      );
    }
    if (row.url === null) return null;
    const expires = row.previousSecretExpiresAt;
    return {
      url: row.url,
      secretRotatedAt: row.secretRotatedAt,
      previousSecretExpiresAt: expires && expires > this.clock.now() ? expires : null,
      source: 'database',
    };
  }

  private requireBox(): SecretBox {
    if (this.box) return this.box;
    throw new ApiError(
      400,
      'Webhook secrets are stored encrypted, and this deployment has no SECRETS_ENCRYPTION_KEY to encrypt ' +
        'them with, so no webhook can be set through the API. Set SECRETS_ENCRYPTION_KEY (32 random bytes, ' +
        'e.g. `openssl rand -base64 32`) on the API and worker processes and restart them; ' +
        'or configure this tenant in WEBHOOKS.',
      'invalid_request_error',
      'secrets_encryption_key_missing',
    );
  }

  private inTransaction<T>(
    m: EntityManager | undefined,
    work: (tx: EntityManager) => Promise<T>,
  ): Promise<T> {
    return m ? work(m) : this.db.transaction(work);
  }
}
