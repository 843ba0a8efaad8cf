import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { Queue } from 'bullmq';
import { rateLimitedWarning } from '../../common/rate-limited-warning';
import { withTimeout } from '../../common/with-timeout';
import { BATCH_QUEUE, WEBHOOK_QUEUE } from '../queue/queue.constants';
import { QUEUE_JOB_STATES } from './metrics';
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

/** One background read that sets gauges (e.g. batches by status, read by the batches feature). */
export interface BacklogSource {
  /** What is read, for the warning when it fails ("batches", "webhooks"). */
  name: string;
  read(): Promise<void>;
}

/**
 * Keeps the backlog gauges (queue depths here; batches by status and pending webhook events from
 * the sources their features register) current from one timer per process, so a scrape only
 * renders what is in memory: no scrape scans a table or waits on Redis, and the database load of
 * these gauges does not grow with the scrape rate. When a read fails the gauges keep their last
 * values (better a slightly old number than a gap).
 */
@Injectable()
export class MetricsRefreshService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Metrics');
  private readonly warners = new Map<string, (message: string) => void>();
  private readonly sources: BacklogSource[] = [{ name: 'queues', read: () => this.readQueues() }];
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly metrics: MetricsService,
    @InjectQueue(BATCH_QUEUE) private readonly batchQueue: Queue,
    @InjectQueue(WEBHOOK_QUEUE) private readonly webhookQueue: Queue,
  ) {}

  /** A feature adds its background read (call it in onModuleInit, before the first refresh). */
  register(source: BacklogSource): void {
    this.sources.push(source);
  }

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
    this.running ??= Promise.all(this.sources.map((source) => this.readOne(source)))
      .then(() => undefined)
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async readOne(source: BacklogSource): Promise<void> {
    try {
      await withTimeout(source.read(), SOURCE_TIMEOUT_MS, `reading ${source.name}`);
    } catch (err) {
      this.warn(source.name, err);
    }
  }

  private async readQueues(): Promise<void> {
    const queues = [this.batchQueue, this.webhookQueue];
    const counts = await Promise.all(queues.map((q) => q.getJobCounts(...QUEUE_JOB_STATES)));
    this.metrics.setQueueJobCounts(Object.fromEntries(queues.map((q, i) => [q.name, counts[i]])));
  }

  private warn(source: string, err: unknown): void {
    // A read cut short by shutdown (connections closing) is not worth a warning.
    if (this.stopped) return;
    let warn = this.warners.get(source);
    if (!warn) this.warners.set(source, (warn = rateLimitedWarning(this.logger, WARNING_INTERVAL_MS)));
    warn(
      `Could not read ${source} for /metrics (keeping the last values): ${(err as Error)?.message ?? String(err)}`,
    );
  }
}
