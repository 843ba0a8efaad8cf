import { Injectable, Logger } from '@nestjs/common';
import { rateLimitedWarning } from '../../common/rate-limited-warning';
import { TtlCache } from '../../common/ttl-cache';
import { ApiKeyEntity } from './api-key.entity';
import { apiKeyHash } from './api-key-material';
import { ApiKeysRepository } from './api-keys.repository';
import { TENANT_SETTINGS_TTL_MS } from './tenant-directory.service';

/** How often one process records a key's use (last_used_at): about once a minute is what operators need. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * The database's API keys as the request path needs them. Lookups by hash are cached for
 * TENANT_SETTINGS_TTL_MS, unknown keys included (a guessing client costs one query per guess and
 * period at most), so a revoked key is refused by every replica within that time.
 */
@Injectable()
export class KeyDirectory {
  private readonly logger = new Logger('Auth');
  private readonly byHash = new TtlCache<string, ApiKeyEntity | null>(TENANT_SETTINGS_TTL_MS);
  private readonly anyUsable = new TtlCache<'any', boolean>(TENANT_SETTINGS_TTL_MS);
  private readonly touched = new Map<string, number>();
  private readonly touchFailed = rateLimitedWarning(this.logger, 60_000);

  constructor(private readonly keys: ApiKeysRepository) {}

  /** The usable key row for a presented key (not revoked, not expired), else null. */
  async lookup(key: string, now = new Date()): Promise<ApiKeyEntity | null> {
    const hash = apiKeyHash(key);
    const row = await this.byHash.get(hash, () => this.keys.findByHash(hash));
    if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= now)) return null;
    return row;
  }

  /** Whether any database key could open the API now (cached like lookups). */
  hasUsableKeys(): Promise<boolean> {
    return this.anyUsable.get('any', () => this.keys.anyUsable());
  }

  /** Records that the key was used, at most once a minute per key, without the caller waiting. */
  touch(id: string): void {
    const now = Date.now();
    if (now - (this.touched.get(id) ?? 0) < TOUCH_INTERVAL_MS) return;
    if (this.touched.size > 10_000) this.touched.clear();
    this.touched.set(id, now);
    this.keys.touch(id).catch((err: unknown) => {
      this.touchFailed(`Could not record an API key's last use: ${(err as Error)?.message ?? String(err)}`);
    });
  }

  /** Drops this process's cached answers after a change it made. */
  forgetAll(): void {
    this.byHash.clear();
    this.anyUsable.clear();
  }
}
