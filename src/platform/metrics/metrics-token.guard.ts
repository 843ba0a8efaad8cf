import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { bearerToken, matchesDigest, secretDigest } from '../../common/secret-digest';
import { ApiError } from '../../common/api-error';
import { APP_CONFIG, AppConfig } from '../config/app-config';

/**
 * /metrics needs no API key (Prometheus has none), but when METRICS_AUTH_TOKEN is set the scraper
 * must send `Authorization: Bearer <token>`. Compared as SHA-256 digests in constant time.
 */
@Injectable()
export class MetricsTokenGuard implements CanActivate {
  private readonly expected: Buffer | null;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.expected = config.metricsAuthToken ? secretDigest(config.metricsAuthToken) : null;
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.expected) return true;
    const token = bearerToken(context.switchToHttp().getRequest<Request>().headers.authorization);
    if (token && matchesDigest(token, this.expected)) return true;
    throw new ApiError(
      401,
      'A valid metrics token is required (Authorization: Bearer <METRICS_AUTH_TOKEN>).',
      'invalid_request_error',
      'invalid_metrics_token',
      null,
      {
        'WWW-Authenticate': 'Bearer realm="metrics"',
      },
    );
  }
}
