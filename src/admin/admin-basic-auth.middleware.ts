import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError, envelope } from '../common/api-error';

export const ADMIN_REALM = 'vllm-batch admin';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Reads `Authorization: Basic base64(user:password)`; null when absent or malformed. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * HTTP Basic auth for the admin board. User and password are compared as SHA-256 digests with
 * timingSafeEqual, both of them every time, so timing reveals neither which part was wrong nor how
 * much of a guess matched.
 */
export function adminBasicAuth(user: string, password: string): RequestHandler {
  const expectedUser = digest(user);
  const expectedPassword = digest(password);
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = parseBasicAuth(req.headers.authorization);
    const userOk = timingSafeEqual(digest(given?.user ?? ''), expectedUser);
    const passwordOk = timingSafeEqual(digest(given?.password ?? ''), expectedPassword);
    if (given && userOk && passwordOk) return next();
    const err = new ApiError(
      401,
      'Admin credentials required (HTTP Basic, ADMIN_USER / ADMIN_PASSWORD).',
      'invalid_request_error',
      'invalid_credentials',
    );
    res.setHeader('WWW-Authenticate', `Basic realm="${ADMIN_REALM}", charset="UTF-8"`);
    res.status(401).json(envelope(err));
  };
}
