import type { Request } from 'express';

export interface TenantContext {
  tenant: string;
  tier: string;
  /** A short hash of the key, safe to log; the key itself never is. */
  keyFingerprint: string | null;
}

export type AuthedRequest = Request & { tenant?: TenantContext; id?: string };

export const OPEN_MODE_TENANT = 'default';
