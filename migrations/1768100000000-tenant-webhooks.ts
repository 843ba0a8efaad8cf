import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhook endpoints set per tenant through the admin API; a row overrides the tenant's WEBHOOKS
 * entry. Secrets are stored sealed (SecretBox, AES-256-GCM under SECRETS_ENCRYPTION_KEY), never in
 * clear. After a rotation the previous secret keeps signing until previous_secret_expires_at. A
 * row whose url is NULL records that the tenant's webhook was removed: it gets no events, even
 * with a WEBHOOKS entry.
 */
export class TenantWebhooks1768100000000 implements MigrationInterface {
  name = 'TenantWebhooks1768100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tenant_webhooks (
        tenant_id varchar(64) NOT NULL,
        url text NULL,
        secret_enc text NULL,
        previous_secret_enc text NULL,
        previous_secret_expires_at timestamptz NULL,
        secret_rotated_at timestamptz NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_tenant_webhooks PRIMARY KEY (tenant_id),
        CONSTRAINT chk_tenant_webhooks_secret CHECK ((url IS NULL) = (secret_enc IS NULL)),
        CONSTRAINT chk_tenant_webhooks_rotated CHECK ((url IS NULL) = (secret_rotated_at IS NULL)),
        CONSTRAINT chk_tenant_webhooks_previous
          CHECK ((previous_secret_enc IS NULL) = (previous_secret_expires_at IS NULL))
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE tenant_webhooks`);
  }
}
