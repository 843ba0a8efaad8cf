import { Injectable } from '@nestjs/common';
import { Registry } from 'prom-client';
import { LIMIT_REASONS, LimitReason } from '../../worker/concurrency/control-law';
import {
  BATCH_STATUSES,
  createMetricsRegistry,
  Metrics,
  QUEUE_JOB_STATES,
  QueueJobState,
  UNFINISHED_STATUSES,
  UpstreamOutcome,
  WebhookOutcome,
} from './metrics';

/**
 * How long one rendering of /metrics is served to every scrape. Rendering walks every series (the
 * HTTP histograms grow with the route count); a burst of scrapes (many Prometheis, or a hostile
 * client on an open /metrics) then costs one rendering a second instead of one per scrape.
 * Prometheus scrapes every 15 s or so, so a second of staleness is invisible to it.
 */
export const RENDER_CACHE_MS = 1000;

/**
 * The one place code records metrics. Callers speak in domain terms (a transition, an upstream
 * result); label names and units stay here and in metrics.ts.
 */
@Injectable()
export class MetricsService {
  readonly registry: Registry;
  private readonly metrics: Metrics;
  private rendered: { text: string; at: number } | null = null;
  private rendering: Promise<string> | null = null;

  constructor() {
    const { registry, metrics } = createMetricsRegistry();
    this.registry = registry;
    this.metrics = metrics;
  }

  /**
   * The exposition text for a scrape: the cached rendering while it is younger than
   * RENDER_CACHE_MS, else one fresh rendering shared by every scrape that arrives meanwhile.
   * Nothing here touches PostgreSQL or Redis (see MetricsRefreshService).
   */
  render(): Promise<string> {
    if (this.rendered && performance.now() - this.rendered.at < RENDER_CACHE_MS) {
      return Promise.resolve(this.rendered.text);
    }
    this.rendering ??= this.registry
      .metrics()
      .then((text) => {
        this.rendered = { text, at: performance.now() };
        return text;
      })
      .finally(() => {
        this.rendering = null;
      });
    return this.rendering;
  }

  /** Batch counts by status from the background read; a status without batches is 0. */
  /** Whether this process reached `dependency` at its last check. */
  dependencyState(dependency: string, up: boolean): void {
    this.metrics.dependencyUp.set({ dependency }, up ? 1 : 0);
  }

  setBatchCounts(counts: Record<string, number>): void {
    for (const status of BATCH_STATUSES) this.metrics.batchesByStatus.set({ status }, counts[status] ?? 0);
  }

  /** Unfinished batches near their expiry, by status, from the background read; none is 0. */
  setBatchesExpiringSoon(counts: Record<string, number>): void {
    for (const status of UNFINISHED_STATUSES)
      this.metrics.batchesExpiringSoon.set({ status }, counts[status] ?? 0);
  }

  /** Job counts per queue and state from the background read. */
  setQueueJobCounts(byQueue: Record<string, Partial<Record<QueueJobState, number>>>): void {
    for (const [queue, counts] of Object.entries(byQueue)) {
      for (const state of QUEUE_JOB_STATES) this.metrics.queueJobs.set({ queue, state }, counts[state] ?? 0);
    }
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

  /** One webhook delivery attempt ended this way. */
  webhookDelivery(outcome: WebhookOutcome): void {
    this.metrics.webhookDeliveries.inc({ outcome });
  }

  /** Undelivered webhook events in the outbox, from the background read. */
  setWebhookEventsPending(count: number): void {
    this.metrics.webhookEventsPending.set(count);
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
}
