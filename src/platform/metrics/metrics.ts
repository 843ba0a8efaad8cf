import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ALL_STATUSES, TERMINAL_STATUSES } from '../../domain/batches/batch-status';
import { LIMIT_REASONS } from '../../worker/concurrency/control-law';

/**
 * Every metric the service exports is defined in this file, so names, labels and buckets can be
 * reviewed in one place and the Grafana dashboard test can check its queries against them.
 *
 * Rules: the `vllm_batch_` prefix (never `vllm:`/`vllm_`, which belong to vLLM itself) and bounded
 * label values only: HTTP route templates, statuses, outcomes, throttler and queue names. Batch ids,
 * file ids and tenants never become labels: their number grows without bound.
 */
export const METRIC_PREFIX = 'vllm_batch_';

export const BATCH_STATUSES: readonly string[] = ALL_STATUSES;
/** Statuses a batch can still expire from (the others are final). */
export const UNFINISHED_STATUSES: readonly string[] = ALL_STATUSES.filter(
  (s) => !TERMINAL_STATUSES.includes(s),
);
/** "Expiring soon": an unfinished batch this close to its expires_at is at risk of expiring. */
export const EXPIRING_SOON_SECONDS = 3600;

/** Queue job states reported by `Queue.getJobCounts`. */
export const QUEUE_JOB_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'paused'] as const;
export type QueueJobState = (typeof QUEUE_JOB_STATES)[number];

/** What became of one webhook delivery attempt (see WebhookDeliveryProcessor). */
export const WEBHOOK_OUTCOMES = ['delivered', 'retried', 'dropped'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

export type UpstreamOutcome =
  'ok' | 'upstream_4xx' | 'upstream_5xx' | 'timeout' | 'connection_error' | 'retried';

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// An upstream completion takes from milliseconds (embeddings) to minutes (long generations).
const UPSTREAM_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];
// Validation and finalization stream whole files: from tiny test files to 50k-line batches.
const FILE_PASS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

export function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    httpRequests: new Counter({
      name: `${METRIC_PREFIX}http_requests_total`,
      help: 'HTTP requests answered, by method, route template (or "unmatched") and status code.',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpRequestDuration: new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: 'Time from receiving an HTTP request to finishing its response.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: HTTP_BUCKETS,
      registers,
    }),
    throttledRequests: new Counter({
      name: `${METRIC_PREFIX}throttled_requests_total`,
      help: 'Requests answered 429 by the rate limiter, by named throttler.',
      labelNames: ['throttler'] as const,
      registers,
    }),
    throttleFailOpen: new Counter({
      name: `${METRIC_PREFIX}throttle_fail_open_total`,
      help: 'Requests let through unthrottled because the rate-limit store (Redis) did not answer.',
      labelNames: ['throttler'] as const,
      registers,
    }),
    batchTransitions: new Counter({
      name: `${METRIC_PREFIX}batch_transitions_total`,
      help: 'Batch status transitions; from="none" when a batch is created.',
      labelNames: ['from', 'to'] as const,
      registers,
    }),
    upstreamRequests: new Counter({
      name: `${METRIC_PREFIX}upstream_requests_total`,
      help: 'Batch lines dispatched to vLLM, by outcome (retried = a transient failure that will be retried).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    upstreamDuration: new Histogram({
      name: `${METRIC_PREFIX}upstream_request_duration_seconds`,
      help: 'Latency of requests to vLLM, by outcome.',
      labelNames: ['outcome'] as const,
      buckets: UPSTREAM_BUCKETS,
      registers,
    }),
    upstreamInflight: new Gauge({
      name: `${METRIC_PREFIX}upstream_inflight_requests`,
      help: 'Requests to vLLM currently in flight from this worker.',
      registers,
    }),
    upstreamInflightLimit: new Gauge({
      name: `${METRIC_PREFIX}upstream_inflight_limit`,
      help: "The worker's current in-flight limit (adaptive or fixed).",
      registers,
    }),
    concurrencyGlobalLimit: new Gauge({
      name: `${METRIC_PREFIX}concurrency_global_limit`,
      help: "In-flight limit for the whole vLLM endpoint, shared by every worker (adaptive mode; fixed mode: this worker's limit).",
      registers,
    }),
    concurrencyLimitChanges: new Counter({
      name: `${METRIC_PREFIX}concurrency_limit_changes_total`,
      help: 'Changes of the global in-flight limit by the reason of the change (counted by the worker that ran the control law).',
      labelNames: ['reason'] as const,
      registers,
    }),
    concurrencyLimitReason: new Gauge({
      name: `${METRIC_PREFIX}concurrency_limit_reason`,
      help: 'Why the global in-flight limit last changed: 1 for that reason, 0 for the others.',
      labelNames: ['reason'] as const,
      registers,
    }),
    concurrencyLeader: new Gauge({
      name: `${METRIC_PREFIX}concurrency_leader`,
      help: '1 when this worker runs the concurrency control law for its vLLM endpoint, else 0.',
      registers,
    }),
    concurrencyWorkers: new Gauge({
      name: `${METRIC_PREFIX}concurrency_workers`,
      help: 'Live worker processes sharing the in-flight limit of the vLLM endpoint.',
      registers,
    }),
    upstreamKvCacheUsage: new Gauge({
      name: `${METRIC_PREFIX}upstream_kv_cache_usage_ratio`,
      help: "vLLM's KV-cache usage (0..1) at the controller's last scrape of its /metrics.",
      registers,
    }),
    upstreamWaiting: new Gauge({
      name: `${METRIC_PREFIX}upstream_requests_waiting`,
      help: "Requests in vLLM's waiting queue (all clients) at the controller's last scrape.",
      registers,
    }),
    upstreamRunning: new Gauge({
      name: `${METRIC_PREFIX}upstream_requests_running`,
      help: "Requests in vLLM's running batch (all clients) at the controller's last scrape.",
      registers,
    }),
    promptTokens: new Counter({
      name: `${METRIC_PREFIX}prompt_tokens_total`,
      help: 'Prompt tokens reported by vLLM in successful responses.',
      registers,
    }),
    completionTokens: new Counter({
      name: `${METRIC_PREFIX}completion_tokens_total`,
      help: 'Completion tokens reported by vLLM in successful responses.',
      registers,
    }),
    validationDuration: new Histogram({
      name: `${METRIC_PREFIX}validation_duration_seconds`,
      help: 'Time to validate a batch input file.',
      buckets: FILE_PASS_BUCKETS,
      registers,
    }),
    finalizeDuration: new Histogram({
      name: `${METRIC_PREFIX}finalize_duration_seconds`,
      help: 'Time to write the output and error files of a batch.',
      buckets: FILE_PASS_BUCKETS,
      registers,
    }),
    // The two backlog gauges are set by MetricsRefreshService from a read in the background, never
    // read on scrape: a scrape must not wait on (or load) PostgreSQL and Redis.
    batchesByStatus: new Gauge({
      name: `${METRIC_PREFIX}batches`,
      help: 'Batches in the database by status (read from PostgreSQL every few seconds in the background; every replica reports the same totals, aggregate with max).',
      labelNames: ['status'] as const,
      registers,
    }),
    batchesExpiringSoon: new Gauge({
      name: `${METRIC_PREFIX}batches_expiring_soon`,
      help: `Unfinished batches whose expires_at is less than ${EXPIRING_SOON_SECONDS / 3600} h away, by status (background read like vllm_batch_batches; aggregate with max).`,
      labelNames: ['status'] as const,
      registers,
    }),
    queueJobs: new Gauge({
      name: `${METRIC_PREFIX}queue_jobs`,
      help: 'BullMQ jobs by queue and state (read from Redis every few seconds in the background; aggregate with max across replicas).',
      labelNames: ['queue', 'state'] as const,
      registers,
    }),
    webhookDeliveries: new Counter({
      name: `${METRIC_PREFIX}webhook_deliveries_total`,
      help: 'Webhook delivery attempts by outcome: delivered (2xx), retried (failed, another attempt scheduled), dropped (failed, no attempt left). Attempts postponed by an open circuit are not counted.',
      labelNames: ['outcome'] as const,
      registers,
    }),
    webhookEventsPending: new Gauge({
      name: `${METRIC_PREFIX}webhook_events_pending`,
      help: 'Webhook events in the outbox not yet delivered or dropped (background read like vllm_batch_batches; aggregate with max).',
      registers,
    }),
    dependencyUp: new Gauge({
      name: `${METRIC_PREFIX}dependency_up`,
      help: '1 while this process reaches the dependency (postgres, redis, storage), 0 while it does not (checked every few seconds). Alerts use it to catch a worker stuck without Redis, which readiness does not.',
      labelNames: ['dependency'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * A fresh registry holding the service metrics and Node's process metrics, both prefixed.
 * One registry per application instance (never prom-client's global one), so several instances in
 * one process (the tests) do not collide with "metric already registered".
 */
export function createMetricsRegistry(): { registry: Registry; metrics: Metrics } {
  const registry = new Registry();
  const metrics = createMetrics(registry);
  // Every reason of a limit change is a series from the start (0 until it happens).
  for (const reason of LIMIT_REASONS) metrics.concurrencyLimitChanges.inc({ reason }, 0);
  for (const outcome of WEBHOOK_OUTCOMES) metrics.webhookDeliveries.inc({ outcome }, 0);
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return { registry, metrics };
}
