import { Global, MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { BatchRepository } from '../../domain/batches/batch.repository';
import { WebhookEventsRepository } from '../../domain/webhooks/webhook-events.repository';
import { HttpMetricsMiddleware } from './http-metrics.middleware';
import { METRICS_PATH, MetricsController } from './metrics.controller';
import { MetricsRefreshService } from './metrics-refresh.service';
import { MetricsService } from './metrics.service';
import { MetricsTokenGuard } from './metrics-token.guard';

/**
 * Metrics in every role: the API serves /metrics on its port, a worker-only process on
 * METRICS_PORT. Global so any feature can inject MetricsService.
 *
 * Default process metrics are off in PrometheusModule (it would register them in prom-client's
 * global registry); MetricsService collects them, prefixed, into its own registry.
 */
@Global()
@Module({
  imports: [
    PrometheusModule.register({
      controller: MetricsController,
      path: `/${METRICS_PATH}`,
      defaultMetrics: { enabled: false },
    }),
  ],
  providers: [
    MetricsService,
    MetricsRefreshService,
    MetricsTokenGuard,
    HttpMetricsMiddleware,
    WebhookEventsRepository,
    BatchRepository,
  ],
  exports: [MetricsService],
})
export class MetricsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware).forRoutes({ path: '*path', method: RequestMethod.ALL });
  }
}
