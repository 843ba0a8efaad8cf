import { defineMetrics, UPSTREAM_BUCKETS } from '../../platform/metrics/metrics';

/** What the concurrency controller knows of one replica after a round (null = unknown). */
export interface EndpointState {
  limit: number;
  /** The control law's reason for the limit (LimitReason), or 'fixed'. */
  reason: string;
  kvUsage: number | null;
  waiting: number | null;
  running: number | null;
}

export type EndpointErrorKind = 'connection_error' | 'timeout' | 'http_429' | 'http_5xx';
const ERROR_KINDS: readonly EndpointErrorKind[] = ['connection_error', 'timeout', 'http_429', 'http_5xx'];

/**
 * One series per replica of the pool (label `endpoint`: its base URL) and per model it serves:
 * bounded by the configuration or by the replicas alive now, never by requests. A replica that
 * leaves the pool takes its series with it (`forget`).
 */
export const ENDPOINT_METRICS = defineMetrics('endpoints', ({ counter, gauge, histogram }) => {
  const inflight = gauge('endpoint_inflight', 'Requests this worker has in flight to the replica.', [
    'endpoint',
  ]);
  const limit = gauge(
    'endpoint_limit',
    "The replica's in-flight limit for this worker (its share of the replica's global limit).",
    ['endpoint'],
  );
  const reason = gauge(
    'endpoint_limit_reason',
    "Why the replica's in-flight limit last changed: 1 for that reason, 0 for the others.",
    ['endpoint', 'reason'],
  );
  const kv = gauge(
    'endpoint_kv_cache_usage_ratio',
    "The replica's KV-cache usage (0..1) at the controller's last scrape of its /metrics.",
    ['endpoint'],
  );
  const waiting = gauge(
    'endpoint_requests_waiting',
    "Requests in the replica's waiting queue (all clients) at the last scrape.",
    ['endpoint'],
  );
  const running = gauge(
    'endpoint_requests_running',
    "Requests in the replica's running batch (all clients) at the last scrape.",
    ['endpoint'],
  );
  const duration = histogram(
    'endpoint_request_duration_seconds',
    'Latency of answered requests to the replica, by model.',
    UPSTREAM_BUCKETS,
    ['endpoint', 'model'],
  );
  const errors = counter(
    'endpoint_errors_total',
    'Failed requests to the replica by kind (each attempt counts).',
    ['endpoint', 'kind'],
  );
  const breakerOpen = gauge(
    'endpoint_breaker_open',
    '1 while the replica is taken out by its circuit breaker (unreachable or failing), else 0.',
    ['endpoint'],
  );
  const draining = gauge(
    'endpoint_draining',
    '1 while the replica is drained (removed from the configuration or DNS), finishing what it has in flight.',
    ['endpoint'],
  );
  const lines = counter('endpoint_lines_total', 'Batch lines answered by the replica, by model.', [
    'endpoint',
    'model',
  ]);
  const models = gauge('endpoint_models', '1 for each model the replica serves now.', ['endpoint', 'model']);
  const served = new Map<string, Set<string>>();
  /** Models each replica answered for (the label sets of `duration` and `lines`). */
  const answeredModels = new Map<string, Set<string>>();
  /** The reason series set to 1 for each replica (the others were set to 0 when it changed). */
  const reasons = new Map<string, Set<string>>();
  return {
    /** A replica joined the pool: its series exist from now on. */
    joined(endpoint: string): void {
      inflight.set({ endpoint }, 0);
      breakerOpen.set({ endpoint }, 0);
      draining.set({ endpoint }, 0);
      for (const kind of ERROR_KINDS) errors.inc({ endpoint, kind }, 0);
    },
    state(endpoint: string, s: EndpointState): void {
      limit.set({ endpoint }, s.limit);
      let seen = reasons.get(endpoint);
      if (!seen) reasons.set(endpoint, (seen = new Set()));
      for (const r of seen) if (r !== s.reason) reason.set({ endpoint, reason: r }, 0);
      reason.set({ endpoint, reason: s.reason }, 1);
      seen.add(s.reason);
      if (s.kvUsage !== null) kv.set({ endpoint }, s.kvUsage);
      if (s.waiting !== null) waiting.set({ endpoint }, s.waiting);
      if (s.running !== null) running.set({ endpoint }, s.running);
    },
    inflight(endpoint: string, n: number): void {
      inflight.set({ endpoint }, n);
    },
    answered(endpoint: string, model: string, seconds: number): void {
      duration.observe({ endpoint, model }, seconds);
      lines.inc({ endpoint, model });
      let seen = answeredModels.get(endpoint);
      if (!seen) answeredModels.set(endpoint, (seen = new Set()));
      seen.add(model);
    },
    failed(endpoint: string, kind: EndpointErrorKind): void {
      errors.inc({ endpoint, kind });
    },
    breaker(endpoint: string, open: boolean): void {
      breakerOpen.set({ endpoint }, open ? 1 : 0);
    },
    /** Left the configuration (1), or named again before it was dropped (0). */
    draining(endpoint: string, on = true): void {
      draining.set({ endpoint }, on ? 1 : 0);
    },
    models(endpoint: string, ids: readonly string[]): void {
      const before = served.get(endpoint) ?? new Set<string>();
      for (const model of before) if (!ids.includes(model)) models.remove({ endpoint, model });
      for (const model of ids) models.set({ endpoint, model }, 1);
      served.set(endpoint, new Set(ids));
    },
    /** The replica left the pool: its series go (prom-client removes exact label sets only). */
    forget(endpoint: string): void {
      for (const m of [inflight, limit, kv, waiting, running, breakerOpen, draining]) m.remove({ endpoint });
      for (const r of reasons.get(endpoint) ?? []) reason.remove({ endpoint, reason: r });
      for (const kind of ERROR_KINDS) errors.remove({ endpoint, kind });
      for (const model of served.get(endpoint) ?? []) models.remove({ endpoint, model });
      for (const model of answeredModels.get(endpoint) ?? []) {
        duration.remove({ endpoint, model });
        lines.remove({ endpoint, model });
      }
      served.delete(endpoint);
      answeredModels.delete(endpoint);
      reasons.delete(endpoint);
    },
  };
});
