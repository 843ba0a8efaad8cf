import { Injectable, OnModuleInit } from '@nestjs/common';
import { MetricsRefreshService } from '../../platform/metrics/metrics-refresh.service';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { WebhookEventsRepository } from './webhook-events.repository';
import { WEBHOOK_METRICS } from './webhook.metrics';

/** Feeds the pending-webhook-events gauge from the metrics' background read. */
@Injectable()
export class WebhookBacklogCollector implements OnModuleInit {
  constructor(
    private readonly events: WebhookEventsRepository,
    private readonly metrics: MetricsService,
    private readonly refresh: MetricsRefreshService,
  ) {}

  onModuleInit(): void {
    this.refresh.register({
      name: 'webhooks',
      read: async () => this.metrics.of(WEBHOOK_METRICS).setPending(await this.events.countPending()),
    });
  }
}
