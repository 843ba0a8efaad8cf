import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule } from '@bull-board/nestjs';
import { DynamicModule, Injectable, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { BATCH_QUEUE, MAINTENANCE_QUEUE } from '../queue/queue.constants';
import { adminBasicAuth } from './admin-basic-auth.middleware';

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
 * routing, so neither the API key guard nor the rate limiter sees it; HTTP Basic auth is its gate.
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
          useFactory: () => ({
            route: ADMIN_QUEUES_ROUTE,
            adapter: ExpressAdapter,
            middleware: adminBasicAuth(adminUser, adminPassword),
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
