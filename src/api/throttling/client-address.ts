import { normalizeIp } from '@nestjs/throttler';
import type { Request } from 'express';

/**
 * The address a request is counted against: `req.ip`, which honours X-Forwarded-For only when
 * TRUST_PROXY says the proxy in front may be believed. IPv6 addresses are grouped by /64, as one
 * host usually owns one.
 */
export function clientAddress(req: Pick<Request, 'ip' | 'socket'>): string {
  return normalizeIp(req.ip ?? req.socket?.remoteAddress ?? 'unknown');
}
