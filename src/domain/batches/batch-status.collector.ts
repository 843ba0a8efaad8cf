import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { MetricsRefreshService } from '../../platform/metrics/metrics-refresh.service';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { BATCH_METRICS, EXPIRING_SOON_SECONDS } from './batch.metrics';

/** Feeds the batches-by-status and expiring-soon gauges from the metrics' background read. */
@Injectable()
export class BatchStatusCollector implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly metrics: MetricsService,
    private readonly refresh: MetricsRefreshService,
  ) {}

  onModuleInit(): void {
    this.refresh.register({ name: 'batches', read: () => this.read() });
  }

  private async read(): Promise<void> {
    // One scan for both gauges; terminal statuses' counts of "expiring" are ignored.
    const rows = await this.db.query<{ status: string; count: string; expiring: string }[]>(
      `SELECT status, count(*) AS count,
              count(*) FILTER (WHERE expires_at < now() + make_interval(secs => $1)) AS expiring
         FROM batches GROUP BY status`,
      [EXPIRING_SOON_SECONDS],
    );
    const batches = this.metrics.of(BATCH_METRICS);
    batches.setCounts(Object.fromEntries(rows.map((r) => [r.status, Number(r.count)])));
    batches.setExpiringSoon(Object.fromEntries(rows.map((r) => [r.status, Number(r.expiring)])));
  }
}
