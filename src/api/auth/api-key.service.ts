import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { bearerToken, secretDigest } from '../../common/secret-digest';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { OPEN_MODE_TENANT, TenantContext } from './auth.types';

export function keyFingerprint(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/**
 * Resolves a bearer key to its tenant. Keys are compared as SHA-256 digests with timingSafeEqual,
 * against every configured key (no early exit), so response time says nothing about how much of a
 * guess was right.
 */
@Injectable()
export class ApiKeyService implements OnModuleInit {
  private readonly logger = new Logger('Auth');
  private readonly entries: { digest: Buffer; tenant: string; tier: string; fingerprint: string }[];

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.entries = config.apiKeys.map((k) => ({
      digest: secretDigest(k.key),
      tenant: k.tenant,
      tier: k.tier,
      fingerprint: keyFingerprint(k.key),
    }));
  }

  onModuleInit(): void {
    // A worker-only process serves no API: whether keys are set says nothing about it.
    if (this.config.role === 'worker') return;
    if (this.isOpen()) {
      this.logger.warn(
        '!!! API_KEYS is empty: the API is OPEN to anyone who can reach it, as the single tenant "default". Set API_KEYS=tenant:key,... for any shared deployment !!!',
      );
    } else {
      const tenants = new Set(this.entries.map((e) => e.tenant));
      this.logger.log(`API key auth on: ${this.entries.length} key(s) for ${tenants.size} tenant(s)`);
    }
  }

  isOpen(): boolean {
    return this.entries.length === 0;
  }

  /** Returns the tenant for a bearer key, or null when the key is unknown. */
  resolve(key: string | undefined): TenantContext | null {
    if (this.isOpen()) return { tenant: OPEN_MODE_TENANT, tier: 'default', keyFingerprint: null };
    if (!key) return null;
    const digest = secretDigest(key);
    let match: (typeof this.entries)[number] | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest)) match = entry;
    }
    return match ? { tenant: match.tenant, tier: match.tier, keyFingerprint: match.fingerprint } : null;
  }

  /** Reads `Authorization: Bearer <key>` from a request's headers. */
  static bearer(header: string | string[] | undefined): string | undefined {
    return bearerToken(header);
  }
}
