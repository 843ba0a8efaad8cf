import { Inject, Injectable, Optional } from '@nestjs/common';
import { Registry } from 'prom-client';
import {
  createMetricsRegistry,
  Metrics,
  MetricSet,
  QUEUE_JOB_STATES,
  QueueJobState,
  UpstreamOutcome,
} from './metrics';

/** Injection token for the feature metric sets registered at start (see MetricsModule.forRoot). */
export const METRIC_SETS = Symbol('METRIC_SETS');

/**
 * How long one rendering of /metrics is served to every scrape. Rendering walks every series (the
 * HTTP histograms grow with the route count); a burst of scrapes (many Prometheis, or a hostile
 * client on an open /metrics) then costs one rendering a second instead of one per scrape.
 * Prometheus scrapes every 15 s or so, so a second of staleness is invisible to it.
 */
export const RENDER_CACHE_MS = 1000;

/**
 * The one place code records metrics. Callers speak in domain terms (an upstream result, a
 * webhook attempt); label names and units stay here, in metrics.ts and in each feature's set,
 * reached through `of(SET)`.
 */
@Injectable()
export class MetricsService {
  readonly registry: Registry;
  private readonly metrics: Metrics;
  private readonly features: Map<MetricSet<unknown>, unknown>;
  private rendered: { text: string; at: number } | null = null;
  private rendering: Promise<string> | null = null;

  constructor(@Optional() @Inject(METRIC_SETS) sets: readonly MetricSet<unknown>[] = []) {
    const { registry, metrics, features } = createMetricsRegistry(sets);
    this.registry = registry;
    this.metrics = metrics;
    this.features = features;
  }

  /** A feature's metrics; a set not registered at start is registered on first use. */
  of<T>(set: MetricSet<T>): T {
    if (!this.features.has(set)) this.features.set(set, set.create(this.registry));
    return this.features.get(set) as T;
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

  /** Whether this process reached `dependency` at its last check. */
  dependencyState(dependency: string, up: boolean): void {
    this.metrics.dependencyUp.set({ dependency }, up ? 1 : 0);
  }

  /** Job counts per queue and state from the background read. */
  setQueueJobCounts(byQueue: Record<string, Partial<Record<QueueJobState, number>>>): void {
    for (const [queue, counts] of Object.entries(byQueue)) {
      for (const state of QUEUE_JOB_STATES) this.metrics.queueJobs.set({ queue, state }, counts[state] ?? 0);
    }
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

  /** An HTTP response finished; `route` is the route template or "unmatched", never a raw URL. */
  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.metrics.httpRequests.inc(labels);
    this.metrics.httpRequestDuration.observe(labels, seconds);
  }
}
