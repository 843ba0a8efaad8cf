import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import IORedis from 'ioredis';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';

/** How long the start waits for the rate-limit Redis before serving (and failing open) without it. */
const CONNECT_WAIT_MS = 3000;
const ERROR_LOG_INTERVAL_MS = 30_000;

/**
 * The Redis connection holding the rate-limit counters, shared by every API process so a limit is
 * a limit across replicas. Its keys live under `<QUEUE_PREFIX>:throttle:`, so deployments (and
 * tests) sharing one Redis keep separate counters.
 *
 * No offline queue and one retry: while Redis is unreachable a counter update fails at once
 * instead of waiting, and the guard lets the request through (see RateLimitGuard). ioredis keeps
 * reconnecting in the background; counting resumes as soon as Redis is back.
 */
@Injectable()
export class ThrottleRedisClient implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Throttling');
  private lastErrorLog = 0;
  readonly redis: IORedis;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.redis = new IORedis(config.throttle.redisUrl ?? config.redisUrl, {
      keyPrefix: `${config.queuePrefix}:throttle:`,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // A Redis that accepts the connection but hangs must not hang the API with it.
      commandTimeout: 1000,
      connectTimeout: 2000,
      // On shutdown, a socket to a dead Redis is destroyed after this instead of keeping the process alive 2 s.
      disconnectTimeout: 500,
    });
    // Without a listener ioredis prints every reconnect failure as an unhandled error event.
    this.redis.on('error', (err: Error) => {
      const now = Date.now();
      if (now - this.lastErrorLog < ERROR_LOG_INTERVAL_MS) return;
      this.lastErrorLog = now;
      this.logger.warn(
        `Rate-limit Redis unreachable (${err.message}); requests are not rate limited until it is back`,
      );
    });
  }

  /**
   * Without an offline queue, commands sent before the connection is ready fail, and those
   * requests would pass unthrottled: wait for it briefly, but never block the start on it.
   */
  async onModuleInit(): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.redis.off('ready', done);
        this.redis.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, CONNECT_WAIT_MS);
      this.redis.once('ready', done);
      this.redis.once('error', done);
    });
  }

  onApplicationShutdown(): void {
    this.redis.disconnect(false);
  }
}
