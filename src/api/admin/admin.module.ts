import { getQueueToken } from '@nestjs/bullmq';
import { DynamicModule, Injectable, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { AppConfig } from '../../platform/config/app-config';
import { BATCH_QUEUE, WEBHOOK_QUEUE } from '../../platform/queue/queue.constants';
import { ThrottleRedisClient } from '../throttling/throttle-redis.client';
import { ThrottleRedisModule } from '../throttling/throttling.module';
import { ADMIN_QUEUES_ROUTE, AdminServer } from './admin-server';

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
 * The queue board, for the API roles, served by AdminServer on ADMIN_PORT (the public port answers
 * 404 under /admin). Without ADMIN_USER/ADMIN_PASSWORD nothing listens at all: a queue board that
 * can retry and delete jobs never runs unauthenticated.
 */
@Module({})
export class AdminModule {
  static register(config: AppConfig): DynamicModule {
    const { adminUser, adminPassword } = config;
    if (!adminUser || !adminPassword) return { module: AdminModule, providers: [AdminBoardDisabledNotice] };
    return {
      module: AdminModule,
      imports: [ThrottleRedisModule],
      providers: [
        {
          provide: AdminServer,
          inject: [ThrottleRedisClient, getQueueToken(BATCH_QUEUE), getQueueToken(WEBHOOK_QUEUE)],
          useFactory: (throttleRedis: ThrottleRedisClient, ...queues: Queue[]) =>
            new AdminServer(config, queues, throttleRedis),
        },
      ],
    };
  }
}
