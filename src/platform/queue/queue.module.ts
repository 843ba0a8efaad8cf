import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { BatchQueueProducer } from './batch-queue.producer';
import { BATCH_QUEUE, WEBHOOK_QUEUE } from './queue.constants';
import { SettleConnectionsOnShutdown } from './settle-connections-on-shutdown';

/** Parses REDIS_URL into the options BullMQ's ioredis connection takes. */
export function redisConnection(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    // Required by BullMQ workers: blocking commands must wait as long as they need.
    maxRetriesPerRequest: null,
  };
}

@Global()
@Module({
  imports: [
    DiscoveryModule,
    BullModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        connection: redisConnection(config.redisUrl),
        prefix: config.queuePrefix,
      }),
    }),
    BullModule.registerQueue({ name: BATCH_QUEUE }, { name: WEBHOOK_QUEUE }),
  ],
  providers: [BatchQueueProducer, SettleConnectionsOnShutdown],
  exports: [BullModule, BatchQueueProducer],
})
export class QueueModule {}
