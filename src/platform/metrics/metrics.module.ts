import { DynamicModule, Global, MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { HttpMetricsMiddleware } from './http-metrics.middleware';
import { METRICS_PATH, MetricsController } from './metrics.controller';
import { MetricsRefreshService } from './metrics-refresh.service';
import { METRIC_SETS, MetricsService } from './metrics.service';
import type { MetricSet } from './metrics';
import { MetricsTokenGuard } from './metrics-token.guard';

/**
 * Metrics in every role: the API serves /metrics on its port, a worker-only process on
 * METRICS_PORT. Global so any feature can inject MetricsService (and register a background read
 * with MetricsRefreshService); `forRoot` takes the features' metric sets.
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
  providers: [MetricsService, MetricsRefreshService, MetricsTokenGuard, HttpMetricsMiddleware],
  exports: [MetricsService, MetricsRefreshService],
})
export class MetricsModule implements NestModule {
  static forRoot(sets: readonly MetricSet<unknown>[]): DynamicModule {
    return { module: MetricsModule, providers: [{ provide: METRIC_SETS, useValue: sets }] };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware).forRoutes({ path: '*path', method: RequestMethod.ALL });
  }
}
