import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { ApiError } from '../../common/api-error';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { AdminActor } from './admin-actor';
import { AuditAction } from './admin-audit.entity';
import { AdminAuditRepository } from './admin-audit.repository';
import { TENANT_LIMIT_FIELDS, TenantEntity, TenantLimits } from './tenant.entity';
import { TenantDirectory } from './tenant-directory.service';
import { tenantExists, tenantNotFound } from './tenant-errors';
import { TenantsRepository } from './tenants.repository';
import {
  TenantWebhookDescription,
  TenantWebhookSecret,
  TenantWebhooksService,
} from '../webhooks/tenant-webhooks.service';

/** A tenant as the admin API shows it. */
export interface TenantRecord {
  id: string;
  /** The tier in force (its override, else the one API_KEYS gives it, else "default"). */
  tier: string;
  /** Overrides; null = the environment's default applies. */
  limits: { [K in (typeof TENANT_LIMIT_FIELDS)[number]]: number | null };
  disabled: boolean;
  source: 'database' | 'environment';
  createdAt: Date | null;
  updatedAt: Date | null;
  /** Where its batch events go, never with a secret; null when nowhere. */
  webhook: TenantWebhookDescription | null;
}

/** A change asked for: an absent field stays as it is, null returns it to the environment's default. */
export interface TenantChanges {
  tier?: string | null;
  limits?: TenantLimits | null;
}

/**
 * Tenants as data: created, changed, disabled and enabled through the admin API. Each change and
 * its audit row commit together, under a lock on the tenant's row. A tenant named only in API_KEYS
 * gets a row the first time one of its settings changes.
 */
@Injectable()
export class TenantAdminService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly tenants: TenantsRepository,
    private readonly audit: AdminAuditRepository,
    private readonly directory: TenantDirectory,
    private readonly webhooks: TenantWebhooksService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async list(): Promise<TenantRecord[]> {
    const rows = await this.tenants.list();
    const inDb = new Set(rows.map((r) => r.id));
    const envOnly = this.directory.environmentTenants().filter((id) => !inDb.has(id));
    const hooks = await this.webhooks.describeMany([...inDb, ...envOnly]);
    return [
      ...rows.map((r) => this.record(r, hooks.get(r.id) ?? null)),
      ...envOnly.map((id) => this.record(null, hooks.get(id) ?? null, id)),
    ].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  }

  async get(id: string): Promise<TenantRecord> {
    const row = await this.tenants.find(id);
    if (!row && !this.isEnvironmentTenant(id)) throw tenantNotFound(id, 'id');
    return this.record(row, await this.webhooks.describe(id), id);
  }

  /**
   * Points the tenant's batch events at `url` with a fresh signing secret, returned this once; the
   * secret it replaces keeps signing for the rotation grace. Audited without the secret.
   */
  async setWebhook(id: string, url: string, who: AdminActor): Promise<TenantWebhookSecret> {
    return this.db.transaction(async (m) => {
      await this.lockOrAdopt(m, id);
      const set = await this.webhooks.set(id, url, m);
      await this.audit.record(
        m,
        entry(who, 'webhook.set', id, { url, previous_secret_expires_at: set.previousSecretExpiresAt }),
      );
      return set;
    });
  }

  /** Stops the tenant's batch events (also those its WEBHOOKS entry would send). Whether it had any. */
  async removeWebhook(id: string, who: AdminActor): Promise<boolean> {
    return this.db.transaction(async (m) => {
      await this.lockOrAdopt(m, id);
      const had = await this.webhooks.remove(id, m);
      if (had) await this.audit.record(m, entry(who, 'webhook.delete', id, {}));
      return had;
    });
  }

  async create(input: { id: string } & TenantChanges, who: AdminActor): Promise<TenantRecord> {
    this.checkTier(input.tier);
    const limits = mergeLimits({}, input.limits);
    return this.change(input.id, async (m) => {
      const row = await this.tenants.insert(m, { id: input.id, tier: input.tier ?? null, limits });
      if (!row) throw tenantExists(input.id);
      await this.audit.record(m, entry(who, 'tenant.create', row.id, { tier: row.tier, limits }));
      return row;
    });
  }

  async update(id: string, changes: TenantChanges, who: AdminActor): Promise<TenantRecord> {
    this.checkTier(changes.tier);
    return this.change(id, async (m) => {
      const row = await this.lockOrAdopt(m, id);
      const updated = await this.tenants.update(m, {
        ...row,
        tier: changes.tier === undefined ? row.tier : changes.tier,
        limits: mergeLimits(row.limits, changes.limits),
      });
      await this.audit.record(
        m,
        entry(who, 'tenant.update', id, {
          ...(changes.tier !== undefined ? { tier: changes.tier } : {}),
          ...(changes.limits !== undefined ? { limits: changes.limits } : {}),
        }),
      );
      return updated;
    });
  }

  /** Disables (or enables) the tenant: its keys, from API_KEYS or the database, stop (or resume) working. */
  async setDisabled(id: string, disabled: boolean, who: AdminActor): Promise<TenantRecord> {
    return this.change(id, async (m) => {
      const row = await this.lockOrAdopt(m, id);
      if ((row.disabledAt !== null) === disabled) return row;
      const updated = await this.tenants.update(m, { ...row, disabledAt: disabled ? new Date() : null });
      await this.audit.record(m, entry(who, disabled ? 'tenant.disable' : 'tenant.enable', id, {}));
      return updated;
    });
  }

  /**
   * The tenant's row locked for this transaction; a tenant known only from API_KEYS gets one (the
   * caller's change is what creates it), anything else is a 404.
   */
  async lockOrAdopt(m: EntityManager, id: string, param: string | null = 'id'): Promise<TenantEntity> {
    const row = await this.tenants.findForUpdate(m, id);
    if (row) return row;
    if (!this.isEnvironmentTenant(id)) throw tenantNotFound(id, param);
    await this.tenants.insert(m, { id, tier: null, limits: {} });
    return (await this.tenants.findForUpdate(m, id))!;
  }

  private async change(id: string, work: (m: EntityManager) => Promise<TenantEntity>): Promise<TenantRecord> {
    const row = await this.db.transaction(work);
    this.directory.forget(id);
    return this.record(row, await this.webhooks.describe(id));
  }

  private isEnvironmentTenant(id: string): boolean {
    return this.directory.environmentTenants().includes(id);
  }

  private checkTier(tier: string | null | undefined): void {
    if (tier == null || Object.hasOwn(this.config.throttle.tiers, tier)) return;
    const known = Object.keys(this.config.throttle.tiers).join(', ');
    throw ApiError.badRequest(
      `Invalid 'tier': ${tier.slice(0, 64)} is not a tier of THROTTLE_TIERS (${known}).`,
      'tier',
      'invalid_value',
    );
  }

  private record(
    row: TenantEntity | null,
    webhook: TenantWebhookDescription | null,
    id = row!.id,
  ): TenantRecord {
    const settings = this.directory.settingsOf(id, row);
    const limits = row?.limits ?? {};
    return {
      id,
      tier: settings.tier,
      limits: Object.fromEntries(
        TENANT_LIMIT_FIELDS.map((f) => [f, limits[f] ?? null]),
      ) as TenantRecord['limits'],
      disabled: settings.disabled,
      source: row ? 'database' : 'environment',
      createdAt: row?.createdAt ?? null,
      updatedAt: row?.updatedAt ?? null,
      webhook,
    };
  }
}

/** `base` with `changes` applied: a null field (or null limits) is removed: the environment decides again. */
function mergeLimits(base: TenantLimits, changes: TenantLimits | null | undefined): TenantLimits {
  if (changes === null) return {};
  const out: TenantLimits = { ...base };
  for (const f of TENANT_LIMIT_FIELDS) {
    const v = changes?.[f];
    if (v === null) delete out[f];
    else if (v !== undefined) out[f] = v;
  }
  return out;
}

export function entry(
  who: AdminActor,
  action: AuditAction,
  target: string,
  details: Record<string, unknown>,
  tenantId: string = target,
) {
  return { actor: who.actor, address: who.address, action, target, tenantId, details };
}
