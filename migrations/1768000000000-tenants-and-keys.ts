import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tenants, API keys and the admin audit trail, managed through the admin API. A tenant row holds
 * the settings that override the environment's defaults for it (null / absent = the environment
 * decides); tenants named only in API_KEYS have no row until an operator changes one of theirs.
 * Keys are stored as the SHA-256 of the key, never the key; `prefix` is what operators see.
 * Audit rows are never updated nor deleted by the service.
 */
export class TenantsAndKeys1768000000000 implements MigrationInterface {
  name = 'TenantsAndKeys1768000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tenants (
        id varchar(64) NOT NULL,
        tier varchar(64) NULL,
        limits jsonb NOT NULL DEFAULT '{}'::jsonb,
        disabled_at timestamptz NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pk_tenants PRIMARY KEY (id)
      )`);
    await q.query(`
      CREATE TABLE api_keys (
        id varchar(64) NOT NULL,
        tenant_id varchar(64) NOT NULL,
        name text NULL,
        prefix varchar(16) NOT NULL,
        key_hash char(64) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz NULL,
        expires_at timestamptz NULL,
        revoked_at timestamptz NULL,
        CONSTRAINT pk_api_keys PRIMARY KEY (id),
        CONSTRAINT fk_api_keys_tenant FOREIGN KEY (tenant_id) REFERENCES tenants (id),
        CONSTRAINT uq_api_keys_hash UNIQUE (key_hash)
      )`);
    // Listing a tenant's keys.
    await q.query(`CREATE INDEX idx_api_keys_tenant ON api_keys (tenant_id, created_at)`);
    await q.query(`
      CREATE TABLE admin_audit (
        id bigserial NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action varchar(32) NOT NULL,
        target text NOT NULL,
        tenant_id varchar(64) NULL,
        address text NULL,
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        CONSTRAINT pk_admin_audit PRIMARY KEY (id)
      )`);
    // The audit listing, newest first, for one tenant or all.
    await q.query(`CREATE INDEX idx_admin_audit_tenant ON admin_audit (tenant_id, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE admin_audit`);
    await q.query(`DROP TABLE api_keys`);
    await q.query(`DROP TABLE tenants`);
  }
}
