import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';

/** A tenant_webhooks row; url (and with it secretEnc) null = the tenant's webhook was removed. */
export interface TenantWebhookRow {
  tenantId: string;
  url: string | null;
  /** SecretBox-sealed `whsec_…`, never the secret itself. */
  secretEnc: string | null;
  previousSecretEnc: string | null;
  previousSecretExpiresAt: Date | null;
  secretRotatedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What `set` stores: the new endpoint, and what becomes of the secret it replaces. */
export interface NewTenantWebhook {
  tenantId: string;
  url: string;
  secretEnc: string;
  /**
   * The secret to keep signing when the tenant has no row yet (its WEBHOOKS entry's, sealed), else
   * null. With a row, the row's current secret is the one kept, read in the same statement.
   */
  fallbackPreviousEnc: string | null;
  /** Until when the replaced secret keeps signing; null = it stops at once. */
  previousExpiresAt: Date | null;
  at: Date;
}

const COLUMNS = `tenant_id AS "tenantId", url, secret_enc AS "secretEnc", previous_secret_enc AS "previousSecretEnc",
  previous_secret_expires_at AS "previousSecretExpiresAt", secret_rotated_at AS "secretRotatedAt",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Every SQL statement on tenant_webhooks. `m`: the caller's transaction, when it has one. */
@Injectable()
export class TenantWebhooksRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async find(tenantId: string, m: EntityManager = this.db.manager): Promise<TenantWebhookRow | null> {
    const rows: TenantWebhookRow[] = await m.query(
      `SELECT ${COLUMNS} FROM tenant_webhooks WHERE tenant_id = $1`,
      [tenantId],
    );
    return rows[0] ?? null;
  }

  async findMany(tenantIds: string[], m: EntityManager = this.db.manager): Promise<TenantWebhookRow[]> {
    return m.query(`SELECT ${COLUMNS} FROM tenant_webhooks WHERE tenant_id = ANY($1)`, [tenantIds]);
  }

  /**
   * Stores the tenant's endpoint and secret. One statement, so of two rotations racing each keeps
   * the secret the other one stored as its previous (never a secret nobody saw), and the replaced
   * secret is moved as sealed: it is never decrypted on the way.
   */
  async upsert(w: NewTenantWebhook, m: EntityManager = this.db.manager): Promise<TenantWebhookRow> {
    const rows: TenantWebhookRow[] = await m.query(
      `INSERT INTO tenant_webhooks AS w
              (tenant_id, url, secret_enc, previous_secret_enc, previous_secret_expires_at,
               secret_rotated_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4::text, CASE WHEN $4::text IS NOT NULL THEN $5::timestamptz END, $6, $6, $6)
       ON CONFLICT (tenant_id) DO UPDATE SET
         url = EXCLUDED.url,
         secret_enc = EXCLUDED.secret_enc,
         previous_secret_enc = CASE WHEN $5::timestamptz IS NOT NULL THEN w.secret_enc END,
         previous_secret_expires_at = CASE WHEN $5::timestamptz IS NOT NULL AND w.secret_enc IS NOT NULL
                                           THEN $5::timestamptz END,
         secret_rotated_at = EXCLUDED.secret_rotated_at,
         updated_at = EXCLUDED.updated_at
       RETURNING ${COLUMNS}`,
      [
        w.tenantId,
        w.url,
        w.secretEnc,
        w.previousExpiresAt ? w.fallbackPreviousEnc : null,
        w.previousExpiresAt,
        w.at,
      ],
    );
    return rows[0];
  }

  /**
   * Records that the tenant has no webhook, whatever WEBHOOKS says (a row with no url and no
   * secret): the row overrides the tenant's WEBHOOKS entry.
   */
  async markRemoved(tenantId: string, at: Date, m: EntityManager = this.db.manager): Promise<void> {
    await m.query(
      `INSERT INTO tenant_webhooks (tenant_id, created_at, updated_at) VALUES ($1, $2, $2)
       ON CONFLICT (tenant_id) DO UPDATE SET url = NULL, secret_enc = NULL, previous_secret_enc = NULL,
         previous_secret_expires_at = NULL, secret_rotated_at = NULL, updated_at = EXCLUDED.updated_at`,
      [tenantId, at],
    );
  }

  async delete(tenantId: string, m: EntityManager = this.db.manager): Promise<void> {
    await m.query(`DELETE FROM tenant_webhooks WHERE tenant_id = $1`, [tenantId]);
  }

  /** The row, locked until the caller's transaction ends (a removal decides from what it sees). */
  async lock(tenantId: string, m: EntityManager): Promise<TenantWebhookRow | null> {
    const rows: TenantWebhookRow[] = await m.query(
      `SELECT ${COLUMNS} FROM tenant_webhooks WHERE tenant_id = $1 FOR UPDATE`,
      [tenantId],
    );
    return rows[0] ?? null;
  }
}
