import type { Request } from 'express';

export interface TenantContext {
  tenant: string;
  /** The tier in force for the tenant (its stored setting, else the key's API_KEYS tier). */
  tier: string;
  /** What the tenant's rate limits are multiplied by. */
  rateLimitMultiplier: number;
  /** A short hash of the key, safe to log; the key itself never is. */
  keyFingerprint: string | null;
}

export type AuthedRequest = Request & { tenant?: TenantContext; id?: string };

export const OPEN_MODE_TENANT = 'default';
