import type { ThrottlerOptions } from '@nestjs/throttler';
import type { AppConfig, ThrottleLimit } from '../../platform/config/app-config';

/**
 * The named throttlers. Each route is counted by exactly one of them (chosen with @RateLimit), and
 * each keeps one counter per caller shared by all its routes: 600 reads a minute are 600 GETs
 * across files, batches and models, not 600 per endpoint.
 */
export const THROTTLER_NAMES = ['batch-create', 'file-upload', 'reads', 'mutations'] as const;
export type ThrottlerName = (typeof THROTTLER_NAMES)[number];

export function throttleLimits(config: AppConfig): Record<ThrottlerName, ThrottleLimit> {
  return {
    'batch-create': config.throttle.batchCreate,
    'file-upload': config.throttle.fileUpload,
    reads: config.throttle.reads,
    mutations: config.throttle.mutations,
  };
}

/** @nestjs/throttler's options for the named throttlers; limits are the tier-1 base limits. */
export function namedThrottlers(config: AppConfig): ThrottlerOptions[] {
  const limits = throttleLimits(config);
  return THROTTLER_NAMES.map((name) => ({ name, limit: limits[name].limit, ttl: limits[name].ttlMs }));
}

/** A limit times a tenant's multiplier, rounded up, at least 1. */
export function scaledLimit(base: number, multiplier: number): number {
  return Math.max(1, Math.ceil(base * multiplier));
}

/** "1 minute", "30 seconds", "1500 milliseconds": the window as said in the 429 message. */
export function describeWindow(ttlMs: number): string {
  const units: [number, string][] = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1000, 'second'],
  ];
  for (const [ms, unit] of units) {
    if (ttlMs % ms === 0) {
      const n = ttlMs / ms;
      return `${n} ${unit}${n === 1 ? '' : 's'}`;
    }
  }
  return `${ttlMs} milliseconds`;
}
