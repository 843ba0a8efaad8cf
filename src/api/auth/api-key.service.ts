import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { bearerToken, secretDigest } from '../../common/secret-digest';
import { APP_CONFIG, AppConfig, ConfigError, openAccessRefusal } from '../../platform/config/app-config';
import { KeyDirectory } from '../../domain/tenants/key-directory.service';
import { TenantDirectory } from '../../domain/tenants/tenant-directory.service';
import { OPEN_MODE_TENANT, TenantContext } from './auth.types';

export function keyFingerprint(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/**
 * How the API admits callers now: with keys (API_KEYS or the database's), open (no key anywhere:
 * everyone is the one tenant "default"), or closed (no key anywhere, but NODE_ENV=production
 * forbids running open: every caller is refused until a key is made through the admin API).
 */
export type AccessMode = 'keys' | 'open' | 'closed';

/**
 * Resolves a bearer key to its tenant and the settings in force for it. API_KEYS entries are
 * compared as SHA-256 digests with timingSafeEqual, against every entry (no early exit), so response
 * time says nothing about how much of a guess was right. A key API_KEYS does not hold is looked up
 * by its hash among the database's keys (high-entropy keys: the lookup leaks nothing useful).
 * Database answers are cached for about 2 s (see KeyDirectory, TenantDirectory), so a revoked key or
 * a disabled tenant is refused by every replica within a few seconds, without a restart.
 */
@Injectable()
export class ApiKeyService implements OnModuleInit {
  private readonly logger = new Logger('Auth');
  private readonly entries: { digest: Buffer; tenant: string; tier: string; fingerprint: string }[];
  private lastMode: AccessMode | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tenants: TenantDirectory,
    private readonly databaseKeys: KeyDirectory,
  ) {
    this.entries = config.apiKeys.map((k) => ({
      digest: secretDigest(k.key),
      tenant: k.tenant,
      tier: k.tier,
      fingerprint: keyFingerprint(k.key),
    }));
  }

  async onModuleInit(): Promise<void> {
    // A worker-only process serves no API: whether keys are set says nothing about it.
    if (this.config.role === 'worker') return;
    if (this.entries.length === 0) {
      const refusal = openAccessRefusal(this.config, await this.databaseKeys.hasUsableKeys());
      if (refusal) throw new ConfigError(refusal);
    }
    await this.mode();
  }

  /** The access mode now; the database's part is re-read every ~2 s. Says so in the log when it changes. */
  async mode(): Promise<AccessMode> {
    const mode: AccessMode =
      this.entries.length > 0 || (await this.databaseKeys.hasUsableKeys())
        ? 'keys'
        : this.config.production && !this.config.allowOpenAccess
          ? 'closed'
          : 'open';
    if (mode !== this.lastMode) this.announce(mode);
    this.lastMode = mode;
    return mode;
  }

  /** Returns the tenant for a bearer key, or null when the key opens nothing (unknown, revoked, expired, tenant disabled). */
  async resolve(key: string | undefined): Promise<TenantContext | null> {
    const mode = await this.mode();
    if (mode === 'open') {
      const settings = await this.tenants.settingsFor(OPEN_MODE_TENANT);
      return {
        tenant: OPEN_MODE_TENANT,
        tier: settings.tier,
        rateLimitMultiplier: settings.rateLimitMultiplier,
        keyFingerprint: null,
      };
    }
    if (!key) return null;
    const env = this.matchEnvironmentKey(key);
    const row = env ? null : await this.databaseKeys.lookup(key);
    const tenant = env?.tenant ?? row?.tenantId;
    if (tenant === undefined) return null;
    const settings = await this.tenants.settingsFor(tenant, env?.tier);
    if (settings.disabled) return null;
    if (row) this.databaseKeys.touch(row.id);
    return {
      tenant,
      tier: settings.tier,
      rateLimitMultiplier: settings.rateLimitMultiplier,
      keyFingerprint: env?.fingerprint ?? keyFingerprint(key),
    };
  }

  /** The API_KEYS entry holding `key`, compared in constant time against every entry. */
  private matchEnvironmentKey(key: string): (typeof this.entries)[number] | null {
    const digest = secretDigest(key);
    let match: (typeof this.entries)[number] | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest)) match = entry;
    }
    return match;
  }

  private announce(mode: AccessMode): void {
    if (mode === 'open') {
      this.logger.warn(
        '!!! No API key exists (API_KEYS is empty and the database holds none): the API is OPEN to anyone who can reach it, as the single tenant "default". Set API_KEYS=tenant:key,... or create a key through the admin API for any shared deployment !!!',
      );
    } else if (mode === 'closed') {
      this.logger.warn(
        '!!! No API key exists (API_KEYS is empty and the database holds none) and NODE_ENV=production: every API request is refused (401) until a key is created through the admin API (POST /admin/api/keys) !!!',
      );
    } else {
      const tenants = new Set(this.entries.map((e) => e.tenant));
      this.logger.log(
        `API key auth on: ${this.entries.length} key(s) from API_KEYS for ${tenants.size} tenant(s), plus the database's keys`,
      );
    }
  }

  /** Reads `Authorization: Bearer <key>` from a request's headers. */
  static bearer(header: string | string[] | undefined): string | undefined {
    return bearerToken(header);
  }
}
