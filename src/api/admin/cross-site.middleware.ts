import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ApiError } from '../../common/api-error';
import { writeError } from '../../platform/http/openai-exception.filter';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The parts of a request the decision reads (req.host: the Host header, or X-Forwarded-Host behind a trusted proxy). */
export type SiteHints = Pick<Request, 'method' | 'headers' | 'host'>;

/** True when the Origin header names the host the request was sent to (scheme aside: a TLS proxy may sit in front). */
function isOwnOrigin(origin: string, host: string): boolean {
  try {
    return new URL(origin).host === host;
  } catch {
    return false; // "null" (sandboxed frames, some redirects) or garbage: not provably ours
  }
}

/** A state-changing request whose Sec-Fetch-Site or Origin names another site. */
export function isCrossSiteWrite(req: SiteHints): boolean {
  if (SAFE_METHODS.has(req.method)) return false;
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  return (
    (site !== undefined && site !== 'same-origin' && site !== 'none') ||
    (origin !== undefined && !isOwnOrigin(origin, req.host))
  );
}

/**
 * Refuses state-changing requests a browser sent on another site's behalf. A browser that has the
 * admin's Basic credentials cached sends them with any request to the board, including a form
 * POST from another site, so the credentials alone do not show that the admin meant it. Browsers
 * say where a request comes from: `Sec-Fetch-Site` (same-origin, or none for a typed URL) and
 * `Origin`. A request naming another site is refused with 403; one with neither header (curl,
 * scripts, which have no ambient credentials to abuse) passes.
 */
export function refuseCrossSite(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!isCrossSiteWrite(req)) return next();
    writeError(
      res,
      new ApiError(
        403,
        'Cross-site requests may not change the admin board: send it from the board itself, or without an Origin header.',
        'invalid_request_error',
        'cross_site_request',
      ),
    );
  };
}
