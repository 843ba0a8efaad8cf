import { SetMetadata } from '@nestjs/common';
import type { ThrottlerName } from './throttlers';

export const RATE_LIMIT = 'throttling:rateLimit';

/**
 * Counts the route against one named throttler (see throttlers.ts). Routes without it (health,
 * metrics, docs, admin) are never rate limited.
 */
export const RateLimit = (name: ThrottlerName): MethodDecorator & ClassDecorator =>
  SetMetadata(RATE_LIMIT, name);
