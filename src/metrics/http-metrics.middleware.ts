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

/** The route template a request matched, including a mounting router's path, or "unmatched". */
export function routeTemplate(req: Request): string {
  const path: unknown = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path !== 'string') return UNMATCHED_ROUTE;
  return `${req.baseUrl ?? ''}${path}` || '/';
}
