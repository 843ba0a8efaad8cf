import { getQueueToken } from '@nestjs/bullmq';
import { DynamicModule, Injectable, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Queue } from 'bullmq';
import { AppConfig } from '../../platform/config/app-config';
import { BATCH_QUEUE, WEBHOOK_QUEUE } from '../../platform/queue/queue.constants';
import { ThrottleRedisClient } from '../throttling/throttle-redis.client';
import { ThrottleRedisModule } from '../throttling/throttling.module';
import { AdminApiModule } from './admin-api.module';
import { ADMIN_QUEUES_ROUTE } from './admin-routes';
import { AdminServer } from './admin-server';

/** Says at start that the admin surface is off, through the app's logger (so LOG_LEVEL applies). */
@Injectable()
class AdminBoardDisabledNotice implements OnApplicationBootstrap {
  onApplicationBootstrap(): void {
    new Logger('Admin').log(
      `ADMIN_USER/ADMIN_PASSWORD and ADMIN_USERS unset: the queue board at ${ADMIN_QUEUES_ROUTE} and the admin API are disabled`,
    );
  }
}

/**
 * The queue board and the admin API, for the API roles, served by AdminServer on ADMIN_PORT (the
 * public port answers 404 under /admin). Without an admin user nothing listens at all: a queue
 * board that can retry and delete jobs, or an API that makes keys, never runs unauthenticated.
 */
@Module({})
export class AdminModule {
  static register(config: AppConfig): DynamicModule {
    if (config.adminUsers.length === 0) return { module: AdminModule, providers: [AdminBoardDisabledNotice] };
    return {
      module: AdminModule,
      imports: [ThrottleRedisModule, AdminApiModule],
      providers: [
        {
          provide: AdminServer,
          inject: [
            HttpAdapterHost,
            ThrottleRedisClient,
            getQueueToken(BATCH_QUEUE),
            getQueueToken(WEBHOOK_QUEUE),
          ],
          useFactory: (host: HttpAdapterHost, throttleRedis: ThrottleRedisClient, ...queues: Queue[]) =>
            new AdminServer(config, queues, throttleRedis, host.httpAdapter.getInstance()),
        },
      ],
    };
  }
}
