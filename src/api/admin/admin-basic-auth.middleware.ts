import { Logger } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { matchesDigest, secretDigest } from '../../common/secret-digest';
import { ApiError } from '../../common/api-error';
import { writeError } from '../../platform/http/openai-exception.filter';
import { clientAddress } from '../throttling/client-address';
import type { AdminUser } from '../../platform/config/app-config';
import type { AdminLoginLimiter } from './admin-login-limiter';

export const ADMIN_REALM = 'vllm-batch admin';

const logger = new Logger('Admin');

/** Reads `Authorization: Basic base64(user:password)`; null when absent or malformed. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const tooManyFailures = (retryAfter: number): ApiError =>
  new ApiError(
    429,
    `Too many failed admin logins from this address; try again in ${retryAfter} seconds.`,
    'requests',
    'rate_limit_exceeded',
    null,
    { 'Retry-After': String(retryAfter) },
  );

/** The admin user a request authenticated as, set by adminBasicAuth (the audit trail's "actor"). */
export const ADMIN_USER = Symbol('adminUser');
export type AdminRequest = Request & { [ADMIN_USER]?: string };

/** The admin user the request authenticated as; null on a request that did not pass adminBasicAuth. */
export function adminUserOf(req: Request): string | null {
  return (req as AdminRequest)[ADMIN_USER] ?? null;
}

/**
 * HTTP Basic auth for the admin surface, with one or several admin users. User and password are
 * compared as SHA-256 digests with timingSafeEqual, both of them, against every configured user
 * every time (no early exit), so timing reveals neither which part was wrong, nor which user, nor
 * how much of a guess matched. The user who passed is recorded on the request (adminUserOf).
 *
 * Guessing is bounded per client address (`req.ip`, so X-Forwarded-For counts only with
 * TRUST_PROXY): a request that carries credentials and fails is counted, and past
 * ADMIN_AUTH_FAIL_LIMIT a minute the address gets 429 with Retry-After, even for the right
 * password, until the block ends. A request without an Authorization header is not an attempt
 * (browsers send one first to get the challenge) and is not counted.
 *
 * The counters live in the rate limiter's Redis. Unlike the API's limits, which fail open, the
 * board fails closed while that Redis does not answer (503): the board needs Redis to show
 * anything anyway, and serving it then would let password guessing run unbounded.
 */
export function adminBasicAuth(users: readonly AdminUser[], limiter: AdminLoginLimiter): RequestHandler {
  const expected = users.map((u) => ({
    user: u.user,
    userDigest: secretDigest(u.user),
    passwordDigest: secretDigest(u.password),
  }));
  const verify = (header: string | undefined): string | null => {
    const given = parseBasicAuth(header);
    let match: string | null = null;
    for (const e of expected) {
      const userOk = matchesDigest(given?.user ?? '', e.userDigest);
      const passwordOk = matchesDigest(given?.password ?? '', e.passwordDigest);
      if (given !== null && userOk && passwordOk) match = e.user;
    }
    return match;
  };

  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const address = clientAddress(req);
    let error: ApiError;
    try {
      const blocked = await limiter.blockedFor(address);
      if (blocked > 0) return writeError(res, tooManyFailures(blocked));
      const user = verify(req.headers.authorization);
      if (user !== null) {
        (req as AdminRequest)[ADMIN_USER] = user;
        return next();
      }
      const nowBlocked = req.headers.authorization === undefined ? 0 : await limiter.recordFailure(address);
      if (nowBlocked > 0) {
        logger.warn(`Admin login blocked for ${nowBlocked} s after repeated failures from ${address}`);
        return writeError(res, tooManyFailures(nowBlocked));
      }
      error = new ApiError(
        401,
        'Admin credentials required (HTTP Basic, ADMIN_USER / ADMIN_PASSWORD or ADMIN_USERS).',
        'invalid_request_error',
        'invalid_credentials',
      );
      res.setHeader('WWW-Authenticate', `Basic realm="${ADMIN_REALM}", charset="UTF-8"`);
    } catch {
      // The Redis client logs its own outage (at most every 30 s); one line per refused request would flood.
      error = new ApiError(
        503,
        'The admin surface is unavailable: Redis does not answer.',
        'server_error',
        'service_unavailable',
      );
    }
    writeError(res, error);
  };
}
