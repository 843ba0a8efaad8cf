import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule } from '@bull-board/nestjs';
import { getQueueToken } from '@nestjs/bullmq';
import { DynamicModule, Injectable, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { AppConfig } from '../config/app-config';
import { BATCH_QUEUE, MAINTENANCE_QUEUE } from '../queue/queue.constants';
import { ThrottleRedisClient } from '../throttling/throttle-redis.client';
import { ThrottleRedisModule } from '../throttling/throttling.module';
import { adminBasicAuth } from './admin-basic-auth.middleware';
import { AdminLoginLimiter } from './admin-login-limiter';
import { refuseCrossSite } from './cross-site.middleware';
import { requireQueueRedis } from './queue-redis.middleware';

export const ADMIN_QUEUES_ROUTE = '/admin/queues';

/** Says at start that the board is off, through the app's logger (so LOG_LEVEL applies). */
@Injectable()
class AdminBoardDisabledNotice implements OnApplicationBootstrap {
  onApplicationBootstrap(): void {
    new Logger('Admin').log(
      `ADMIN_USER/ADMIN_PASSWORD unset: the queue board at ${ADMIN_QUEUES_ROUTE} is disabled`,
    );
  }
}

/**
 * Bull Board at /admin/queues, for the API roles. It is Express middleware mounted before Nest's
 * routing, so neither the API key guard nor the rate limiter sees it; its own middleware, in this
 * order, are its gate: cross-site writes refused (403), HTTP Basic auth with failed logins
 * throttled per client address (401, 429), and a Redis check before the board's API (503).
 * Without ADMIN_USER/ADMIN_PASSWORD it is not mounted at all (the path is a plain 404): a queue
 * board that can retry and delete jobs never runs unauthenticated.
 */
@Module({})
export class AdminModule {
  static register(config: AppConfig): DynamicModule {
    const { adminUser, adminPassword } = config;
    if (!adminUser || !adminPassword) return { module: AdminModule, providers: [AdminBoardDisabledNotice] };
    return {
      module: AdminModule,
      imports: [
        // forRootAsync builds the board and its Express adapter per application instance (forRoot
        // would build them once when this module is defined).
        BullBoardModule.forRootAsync({
          imports: [ThrottleRedisModule],
          inject: [ThrottleRedisClient, getQueueToken(BATCH_QUEUE), getQueueToken(MAINTENANCE_QUEUE)],
          useFactory: (throttleRedis: ThrottleRedisClient, ...queues: Queue[]) => ({
            route: ADMIN_QUEUES_ROUTE,
            adapter: ExpressAdapter,
            middleware: [
              refuseCrossSite(),
              adminBasicAuth(
                adminUser,
                adminPassword,
                new AdminLoginLimiter(throttleRedis.redis, config.adminAuthFailLimit),
              ),
              requireQueueRedis(`${ADMIN_QUEUES_ROUTE}/api/`, queues),
            ],
            boardOptions: { uiConfig: { boardTitle: 'vLLM Batch queues' } },
          }),
        }),
        BullBoardModule.forFeature(
          { name: BATCH_QUEUE, adapter: BullMQAdapter },
          { name: MAINTENANCE_QUEUE, adapter: BullMQAdapter },
        ),
      ],
    };
  }
}
