import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { InjectDataSource } from '@nestjs/typeorm';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { rateLimitedWarning } from '../../common/rate-limited-warning';
import { withTimeout } from '../../common/with-timeout';
import { BATCH_QUEUE, WEBHOOK_QUEUE } from '../queue/queue.constants';
import { WebhookEventsRepository } from '../../domain/webhooks/webhook-events.repository';
import { EXPIRING_SOON_SECONDS, QUEUE_JOB_STATES } from './metrics';
import { MetricsService } from './metrics.service';

/**
 * How often the backlog gauges are re-read. The read costs the same whether nobody or a thousand
 * clients scrape, and a transition shows in /metrics within this (plus the render cache).
 */
export const BACKLOG_REFRESH_MS = 5000;
/** A hung PostgreSQL or Redis must not pile up reads: each read gives up after this. */
const SOURCE_TIMEOUT_MS = 2000;
/** At most one warning per source per interval, so a dead dependency does not flood the log. */
const WARNING_INTERVAL_MS = 60_000;

type Source = 'batches' | 'queues' | 'webhooks';

/**
 * Keeps the batches-by-status (and expiring-soon) and queue-depth gauges current from one timer per process, so a
 * scrape only renders what is in memory: no scrape scans the batches table or waits on Redis, and
 * the database load of these gauges does not grow with the scrape rate. When a read fails the
 * gauges keep their last values (better a slightly old number than a gap).
 */
@Injectable()
export class MetricsRefreshService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Metrics');
  private readonly warners = new Map<Source, (message: string) => void>();
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly metrics: MetricsService,
    @InjectDataSource() private readonly db: DataSource,
    @InjectQueue(BATCH_QUEUE) private readonly batchQueue: Queue,
    @InjectQueue(WEBHOOK_QUEUE) private readonly webhookQueue: Queue,
    private readonly webhookEvents: WebhookEventsRepository,
  ) {}

  onApplicationBootstrap(): void {
    void this.refresh();
  }

  onModuleDestroy(): void {
    this.stopped = true;
  }

  /** One read of every source; a read still running (slow database) is not started twice. */
  @Interval(BACKLOG_REFRESH_MS)
  refresh(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= Promise.all([this.readBatches(), this.readQueues(), this.readWebhooks()])
      .then(() => undefined)
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async readBatches(): Promise<void> {
    try {
      // One scan for both gauges; terminal statuses' counts of "expiring" are ignored.
      const rows = await withTimeout(
        this.db.query<{ status: string; count: string; expiring: string }[]>(
          `SELECT status, count(*) AS count,
                  count(*) FILTER (WHERE expires_at < now() + make_interval(secs => $1)) AS expiring
             FROM batches GROUP BY status`,
          [EXPIRING_SOON_SECONDS],
        ),
        SOURCE_TIMEOUT_MS,
        'batch count query',
      );
      this.metrics.setBatchCounts(Object.fromEntries(rows.map((r) => [r.status, Number(r.count)])));
      this.metrics.setBatchesExpiringSoon(
        Object.fromEntries(rows.map((r) => [r.status, Number(r.expiring)])),
      );
    } catch (err) {
      this.warn('batches', err);
    }
  }

  private async readQueues(): Promise<void> {
    try {
      const queues = [this.batchQueue, this.webhookQueue];
      const counts = await withTimeout(
        Promise.all(queues.map((q) => q.getJobCounts(...QUEUE_JOB_STATES))),
        SOURCE_TIMEOUT_MS,
        'queue job counts',
      );
      this.metrics.setQueueJobCounts(Object.fromEntries(queues.map((q, i) => [q.name, counts[i]])));
    } catch (err) {
      this.warn('queues', err);
    }
  }

  private async readWebhooks(): Promise<void> {
    try {
      const pending = await withTimeout(
        this.webhookEvents.countPending(),
        SOURCE_TIMEOUT_MS,
        'webhook count',
      );
      this.metrics.setWebhookEventsPending(pending);
    } catch (err) {
      this.warn('webhooks', err);
    }
  }

  private warn(source: Source, err: unknown): void {
    // A read cut short by shutdown (connections closing) is not worth a warning.
    if (this.stopped) return;
    let warn = this.warners.get(source);
    if (!warn) this.warners.set(source, (warn = rateLimitedWarning(this.logger, WARNING_INTERVAL_MS)));
    warn(
      `Could not read ${source} for /metrics (keeping the last values): ${(err as Error)?.message ?? String(err)}`,
    );
  }
}
