import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { MetricsService } from './metrics.service';

export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Counts every HTTP response by method, route template and status, and times it.
 *
 * An Express middleware listening for the response's 'finish' sees everything: answers from route
 * handlers, but also 401s from the auth guard, 429s from the rate limiter and 404s for unknown
 * URLs, which an interceptor would miss. The route label is the matched template
 * (`/v1/files/:file_id`), read from `req.route` after routing; never the raw URL, whose ids would
 * make the label unbounded.
 */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: MetricsService) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.httpRequest(req.method, routeTemplate(req), res.statusCode, seconds);
    });
    next();
  }
}

/**
 * The route template a request matched, or "unmatched".
 *
 * `req.route` is the last Express route the request went through. A controller endpoint is a route
 * for one method with a string path (`/v1/files/:file_id`). Nest also registers middleware (and the
 * admin board) as routes for every method on a catch-all path; a request that only went through
 * those reached no endpoint: it is labelled by its mount prefix (`/admin/queues/*`), or "unmatched"
 * at the root. `req.baseUrl` is a router's mount path, static in this app, so labels stay bounded.
 * (The HTTP parser rejects unknown methods, so the method label is bounded too.)
 */
export function routeTemplate(req: Request): string {
  const route = req.route as { path?: unknown; methods?: Record<string, boolean> } | undefined;
  const base = req.baseUrl ?? '';
  const isEndpoint = typeof route?.path === 'string' && Object.keys(route.methods ?? {}).length === 1;
  if (isEndpoint) return `${base}${route.path as string}` || '/';
  return base ? `${base}/*` : UNMATCHED_ROUTE;
}
