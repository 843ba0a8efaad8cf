import { Injectable, OnModuleInit } from '@nestjs/common';
import { MetricsRefreshService } from '../../platform/metrics/metrics-refresh.service';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { BATCH_METRICS, EXPIRING_SOON_SECONDS } from './batch.metrics';
import { BatchRepository } from './batch.repository';

/** Feeds the batches-by-status and expiring-soon gauges from the metrics' background read. */
@Injectable()
export class BatchStatusCollector implements OnModuleInit {
  constructor(
    private readonly batches: BatchRepository,
    private readonly metrics: MetricsService,
    private readonly refresh: MetricsRefreshService,
  ) {}

  onModuleInit(): void {
    this.refresh.register({ name: 'batches', read: () => this.read() });
  }

  private async read(): Promise<void> {
    // One scan for both gauges; terminal statuses' counts of "expiring" are ignored.
    const rows = await this.batches.countByStatus(EXPIRING_SOON_SECONDS);
    const gauges = this.metrics.of(BATCH_METRICS);
    gauges.setCounts(Object.fromEntries(rows.map((r) => [r.status, r.count])));
    gauges.setExpiringSoon(Object.fromEntries(rows.map((r) => [r.status, r.expiring])));
  }
}
