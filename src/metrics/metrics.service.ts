import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Queue } from 'bullmq';
import { Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { LIMIT_REASONS, LimitReason } from '../gpu-worker/concurrency/control-law';
import { withTimeout } from '../common/with-timeout';
import { BATCH_QUEUE, MAINTENANCE_QUEUE } from '../queue/queue.constants';
import { createMetricsRegistry, Metrics, QUEUE_JOB_STATES, QueueJobState, UpstreamOutcome } from './metrics';

/** A scrape must answer even when PostgreSQL or Redis hangs: their gauges then keep old values. */
const SCRAPE_SOURCE_TIMEOUT_MS = 2000;
/** At most one warning per source per interval, so a dead dependency does not flood the log at every scrape. */
const SCRAPE_WARNING_INTERVAL_MS = 60_000;

/**
 * The one place code records metrics. Callers speak in domain terms (a transition, an upstream
 * result); label names and units stay here and in metrics.ts.
 */
@Injectable()
export class MetricsService {
  private readonly logger = new Logger('Metrics');
  readonly registry: Registry;
  private readonly metrics: Metrics;
  private readonly lastScrapeWarning = new Map<string, number>();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @InjectQueue(BATCH_QUEUE) private readonly batchQueue: Queue,
    @InjectQueue(MAINTENANCE_QUEUE) private readonly maintenanceQueue: Queue,
  ) {
    const { registry, metrics } = createMetricsRegistry({
      batchCountsByStatus: () => this.batchCountsByStatus(),
      queueJobCounts: () => this.queueJobCounts(),
      onScrapeError: (source, err) => this.warnScrapeError(source, err),
    });
    this.registry = registry;
    this.metrics = metrics;
  }

  /** A batch moved from one status to another; `from` is null when the batch was just created. */
  batchTransition(from: string | null, to: string): void {
    this.metrics.batchTransitions.inc({ from: from ?? 'none', to });
  }

  /** One request to vLLM ended with this outcome after `seconds`. */
  upstreamResult(outcome: UpstreamOutcome, seconds: number): void {
    this.metrics.upstreamRequests.inc({ outcome });
    this.metrics.upstreamDuration.observe({ outcome }, seconds);
  }

  setInflight(current: number, limit: number): void {
    this.metrics.upstreamInflight.set(current);
    this.metrics.upstreamInflightLimit.set(limit);
  }

  /** The concurrency controller's view: global limit, upstream gauges (null = unknown), leadership. */
  concurrencyState(state: {
    globalLimit: number;
    reason: LimitReason;
    leader: boolean;
    workers: number;
    kvUsage: number | null;
    waiting: number | null;
    running: number | null;
  }): void {
    const m = this.metrics;
    m.concurrencyGlobalLimit.set(state.globalLimit);
    for (const reason of LIMIT_REASONS)
      m.concurrencyLimitReason.set({ reason }, reason === state.reason ? 1 : 0);
    m.concurrencyLeader.set(state.leader ? 1 : 0);
    m.concurrencyWorkers.set(state.workers);
    if (state.kvUsage !== null) m.upstreamKvCacheUsage.set(state.kvUsage);
    if (state.waiting !== null) m.upstreamWaiting.set(state.waiting);
    if (state.running !== null) m.upstreamRunning.set(state.running);
  }

  /** The control law changed the global in-flight limit for this reason. */
  concurrencyLimitChanged(reason: LimitReason): void {
    this.metrics.concurrencyLimitChanges.inc({ reason });
  }

  addTokens(prompt: number, completion: number): void {
    if (prompt > 0) this.metrics.promptTokens.inc(prompt);
    if (completion > 0) this.metrics.completionTokens.inc(completion);
  }

  observeValidation(seconds: number): void {
    this.metrics.validationDuration.observe(seconds);
  }

  observeFinalize(seconds: number): void {
    this.metrics.finalizeDuration.observe(seconds);
  }

  /** A request was answered 429 by the named throttler. */
  throttled(name: string): void {
    this.metrics.throttledRequests.inc({ throttler: name });
  }

  /** A request passed unthrottled because the rate-limit store did not answer. */
  throttleFailedOpen(name: string): void {
    this.metrics.throttleFailOpen.inc({ throttler: name });
  }

  /** An HTTP response finished; `route` is the route template or "unmatched", never a raw URL. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.metrics.httpRequests.inc(labels);
    this.metrics.httpRequestDuration.observe(labels, seconds);
  }

  private async batchCountsByStatus(): Promise<Record<string, number>> {
    const rows = await withTimeout(
      this.db.query<{ status: string; count: string }[]>(
        'SELECT status, count(*) AS count FROM batches GROUP BY status',
      ),
      SCRAPE_SOURCE_TIMEOUT_MS,
      'batch count query',
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
  }

  private async queueJobCounts(): Promise<Record<string, Partial<Record<QueueJobState, number>>>> {
    const queues = [this.batchQueue, this.maintenanceQueue];
    const counts = await withTimeout(
      Promise.all(queues.map((q) => q.getJobCounts(...QUEUE_JOB_STATES))),
      SCRAPE_SOURCE_TIMEOUT_MS,
      'queue job counts',
    );
    return Object.fromEntries(queues.map((q, i) => [q.name, counts[i]]));
  }

  private warnScrapeError(source: string, err: unknown): void {
    const now = Date.now();
    if (now - (this.lastScrapeWarning.get(source) ?? 0) < SCRAPE_WARNING_INTERVAL_MS) return;
    this.lastScrapeWarning.set(source, now);
    this.logger.warn(
      `Could not read ${source} for /metrics (keeping the last values): ${(err as Error)?.message ?? String(err)}`,
    );
  }
}
