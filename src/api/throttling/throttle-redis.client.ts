import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type IORedis from 'ioredis';
import { rateLimitedWarning } from '../../common/rate-limited-warning';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { createFailFastRedis, waitUntilReady } from '../../platform/redis/redis-client';

/** How long the start waits for the rate-limit Redis before serving (and failing open) without it. */
const CONNECT_WAIT_MS = 3000;
const ERROR_LOG_INTERVAL_MS = 30_000;

/**
 * The Redis connection holding the rate-limit counters, shared by every API process so a limit is
 * a limit across replicas. Its keys live under `<QUEUE_PREFIX>:throttle:`, so deployments (and
 * tests) sharing one Redis keep separate counters. It fails fast (see createFailFastRedis): while
 * Redis is unreachable the guard lets requests through (see RateLimitGuard), and counting resumes
 * as soon as Redis is back.
 */
@Injectable()
export class ThrottleRedisClient implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Throttling');
  readonly redis: IORedis;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const warn = rateLimitedWarning(this.logger, ERROR_LOG_INTERVAL_MS);
    this.redis = createFailFastRedis(config.throttle.redisUrl ?? config.redisUrl, {
      keyPrefix: `${config.queuePrefix}:throttle:`,
      onError: (err) =>
        warn(`Rate-limit Redis unreachable (${err.message}); requests are not rate limited until it is back`),
    });
  }

  /** Requests made before the connection is ready would pass unthrottled: wait for it, briefly. */
  onModuleInit(): Promise<void> {
    return waitUntilReady(this.redis, CONNECT_WAIT_MS, true);
  }

  onApplicationShutdown(): void {
    this.redis.disconnect(false);
  }
}
