import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerModuleOptions,
  type ThrottlerRequest,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { Response } from 'express';
import { rateLimitedWarning } from '../../common/rate-limited-warning';
import { ApiKeyService } from '../auth/api-key.service';
import type { AuthedRequest } from '../auth/auth.types';
import { ApiError } from '../../common/api-error';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { clientAddress } from './client-address';
import { RATE_LIMIT } from './rate-limit.decorator';
import { THROTTLE_METRICS } from './throttle.metrics';
import { describeWindow, scaledLimit, type ThrottlerName } from './throttlers';

const FAIL_OPEN_LOG_INTERVAL_MS = 30_000;

/** Who a request is counted against. */
export interface RateLimitIdentity {
  /** `tenant:<name>` for a valid API key, else `ip:<address>`. */
  tracker: string;
  /** What the base limits are multiplied by: the tenant's multiplier, 1 for an address. */
  multiplier: number;
}

/**
 * The global rate limiter: @nestjs/throttler's guard with named throttlers, per-tenant counters
 * in Redis and OpenAI-shaped answers.
 *
 * Ordering: registered as the FIRST global guard, before ApiKeyGuard (see app.module.ts). It
 * identifies the caller itself with the same constant-time ApiKeyService.resolve the auth guard
 * uses, so a valid key is counted per tenant, while requests without a valid key are counted per
 * client IP and are throttled too: key guessing against a route gets 429s once the route's limit
 * is spent, instead of unlimited 401s.
 *
 * Deliberate differences from the stock guard:
 * - a route is counted by the one throttler its @RateLimit names, not by every throttler;
 * - one counter per throttler and caller, shared by all routes of that throttler;
 * - headers without the throttler-name suffix (`X-RateLimit-Limit`, `Retry-After`), which is what
 *   clients and the OpenAI SDKs read, and the 429 in OpenAI's error envelope;
 * - it fails open when Redis is unreachable (see `handleRequest`).
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  private readonly failOpenWarning = rateLimitedWarning(this.logger, FAIL_OPEN_LOG_INTERVAL_MS);

  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly keys: ApiKeyService,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super(options, storage, reflector);
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const name = this.reflector.getAllAndOverride<ThrottlerName | undefined>(RATE_LIMIT, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!name) return true;
    const throttler = this.throttlers.find((t) => t.name === name);
    if (!throttler) throw new Error(`@RateLimit('${name}') names no configured throttler`);
    const ttl = throttler.ttl as number;
    return this.handleRequest({
      context,
      limit: throttler.limit as number,
      ttl,
      throttler,
      // Going over the limit blocks the caller for one full window (the library's default).
      blockDuration: ttl,
      getTracker: (req) => this.getTracker(req),
      generateKey: (ctx, tracker, throttlerName) => this.generateKey(ctx, tracker, throttlerName),
    });
  }

  protected override async handleRequest({
    context,
    limit: baseLimit,
    ttl,
    throttler,
    blockDuration,
  }: ThrottlerRequest): Promise<boolean> {
    const name = throttler.name as ThrottlerName;
    const req = context.switchToHttp().getRequest<AuthedRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    const { tracker, multiplier } = await this.identify(req);
    const limit = scaledLimit(baseLimit, multiplier);
    const key = this.generateKey(context, tracker, name);

    let record;
    try {
      record = await this.storageService.increment(key, ttl, limit, blockDuration, name);
    } catch (err) {
      // Fail open: while Redis is unreachable the request is served unthrottled (no X-RateLimit
      // headers, since there is no count to report). A rate-limit store outage must not become an
      // API outage; the exposure is bounded by the outage and visible in
      // vllm_batch_throttle_fail_open_total and a warning logged at most every 30 s.
      this.metrics.of(THROTTLE_METRICS).failedOpen(name);
      this.warnFailOpen(name, err);
      return true;
    }

    if (record.isBlocked) {
      const retryAfter = String(Math.max(1, record.timeToBlockExpire));
      this.metrics.of(THROTTLE_METRICS).throttled(name);
      throw new ApiError(
        429,
        `Rate limit exceeded: ${limit} per ${describeWindow(ttl)}`,
        'requests',
        'rate_limit_exceeded',
        null,
        {
          'Retry-After': retryAfter,
          'X-RateLimit-Limit': String(limit),
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': retryAfter,
        },
      );
    }
    res.setHeader('X-RateLimit-Limit', String(limit));
    res.setHeader('X-RateLimit-Remaining', String(Math.max(0, limit - record.totalHits)));
    res.setHeader('X-RateLimit-Reset', String(Math.max(0, record.timeToExpire)));
    return true;
  }

  /**
   * A valid key counts against its tenant (whichever of the tenant's keys was used). Anything else,
   * and every caller in open mode (no API_KEYS, everyone is the one default tenant), counts against
   * the client address (see clientAddress).
   */
  async identify(req: AuthedRequest): Promise<RateLimitIdentity> {
    // Resolved once per request: ApiKeyGuard, which runs next, reuses it.
    const tenant = req.tenant ?? (await this.keys.resolve(ApiKeyService.bearer(req.headers.authorization)));
    if (tenant && tenant.keyFingerprint !== null) {
      req.tenant = tenant;
      return { tracker: `tenant:${tenant.tenant}`, multiplier: tenant.rateLimitMultiplier };
    }
    return { tracker: `ip:${clientAddress(req)}`, multiplier: 1 };
  }

  protected override async getTracker(req: Record<string, unknown>): Promise<string> {
    return (await this.identify(req as unknown as AuthedRequest)).tracker;
  }

  /** One counter per caller and throttler (the storage adds the throttler name), not per route. */
  protected override generateKey(_context: ExecutionContext, tracker: string, _name: string): string {
    return tracker;
  }

  private warnFailOpen(name: string, err: unknown): void {
    this.failOpenWarning(
      `Rate limiting is failing open: the counter store did not answer (${(err as Error)?.message ?? String(err)}); "${name}" and other throttlers let requests through until Redis is back`,
    );
  }
}
