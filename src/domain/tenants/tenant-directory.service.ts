import { Inject, Injectable } from '@nestjs/common';
import { TtlCache } from '../../common/ttl-cache';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { TenantEntity } from './tenant.entity';
import { TenantsRepository } from './tenants.repository';

/** How long a process keeps a tenant's row: a change made on any replica applies everywhere within this. */
export const TENANT_SETTINGS_TTL_MS = 2000;

/** What applies to a tenant now: its row's overrides, else the environment's defaults. */
export interface TenantSettings {
  tier: string;
  /** Multiplies the rate limits (THROTTLE_TIERS' value for the tier unless overridden). */
  rateLimitMultiplier: number;
  /** 0 = unlimited. */
  enqueuedTokenLimit: number;
  /** 0 = unlimited. */
  maxActiveBatches: number;
  disabled: boolean;
}

/**
 * "Settings for tenant X", for the API (keys, rate limits) and the worker (admission) alike. Rows
 * are cached for TENANT_SETTINGS_TTL_MS (absent rows too), so the hot paths cost no query per
 * request while an operator's change takes effect without a restart.
 */
@Injectable()
export class TenantDirectory {
  private readonly rows = new TtlCache<string, TenantEntity | null>(TENANT_SETTINGS_TTL_MS);
  /** The tier API_KEYS gives each tenant (its first key's), for tenants resolved without an env key. */
  private readonly envTiers = new Map<string, string>();

  constructor(
    private readonly tenants: TenantsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    for (const k of config.apiKeys) if (!this.envTiers.has(k.tenant)) this.envTiers.set(k.tenant, k.tier);
  }

  /** The tenant's settings; `keyTier` is the tier of the API_KEYS entry used, when one was. */
  async settingsFor(tenantId: string, keyTier?: string): Promise<TenantSettings> {
    const row = await this.rows.get(tenantId, () => this.tenants.find(tenantId));
    return this.settingsOf(tenantId, row, keyTier);
  }

  /** The same, from a row in hand (null: the tenant has none). */
  settingsOf(tenantId: string, row: TenantEntity | null, keyTier?: string): TenantSettings {
    const tier = row?.tier ?? keyTier ?? this.environmentTier(tenantId);
    const limits = row?.limits ?? {};
    const { batches, throttle } = this.config;
    return {
      tier,
      rateLimitMultiplier: limits.rate_limit_multiplier ?? throttle.tiers[tier] ?? 1,
      enqueuedTokenLimit: limits.enqueued_token_limit ?? batches.enqueuedTokenLimit,
      maxActiveBatches: limits.max_active_batches ?? batches.maxActivePerTenant,
      disabled: row?.disabledAt != null,
    };
  }

  /** The tier API_KEYS names for the tenant, "default" when it names none. */
  environmentTier(tenantId: string): string {
    return this.envTiers.get(tenantId) ?? 'default';
  }

  /** Tenants API_KEYS names. */
  environmentTenants(): string[] {
    return [...this.envTiers.keys()];
  }

  /** Drops this process's copy after a change it made, so the change applies here at once. */
  forget(tenantId: string): void {
    this.rows.delete(tenantId);
  }
}
