import { Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { RateLimitGuard } from './rate-limit.guard';
import { ThrottleRedisClient } from './throttle-redis.client';
import { namedThrottlers } from './throttlers';

/**
 * Owns the Redis connection for the counters, so ThrottlerModule's factory can be given it; the
 * admin board's failed-login counters use the same connection.
 */
@Module({ providers: [ThrottleRedisClient], exports: [ThrottleRedisClient] })
export class ThrottleRedisModule {}

/**
 * Rate limiting for the API roles. RateLimitGuard is exported, not registered here: app.module.ts
 * registers it as a global guard next to ApiKeyGuard so the order of the two is visible in one place.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      imports: [ThrottleRedisModule],
      inject: [APP_CONFIG, ThrottleRedisClient],
      useFactory: (config: AppConfig, client: ThrottleRedisClient) => ({
        throttlers: namedThrottlers(config),
        storage: new ThrottlerStorageRedisService(client.redis),
      }),
    }),
  ],
  providers: [RateLimitGuard],
  exports: [RateLimitGuard],
})
export class ThrottlingModule {}
