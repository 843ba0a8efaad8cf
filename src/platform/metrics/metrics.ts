import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The catalogue of the service's metrics. HTTP, upstream dispatch, file passes, queues and
 * dependencies are defined in this file; a feature with metrics in its own terms (batches,
 * webhooks, concurrency, throttling) owns its set (`<feature>.metrics.ts`, made with
 * defineMetrics) and the composition root registers it here (src/metric-sets.ts), so every role
 * exports the same series and the Grafana dashboard and alert tests can check their queries
 * against the whole catalogue.
 *
 * Rules: the `vllm_batch_` prefix (never `vllm:`/`vllm_`, which belong to vLLM itself) and bounded
 * label values only: HTTP route templates, statuses, outcomes, throttler and queue names. Batch ids,
 * file ids and tenants never become labels: their number grows without bound.
 */
export const METRIC_PREFIX = 'vllm_batch_';

/** A feature's own metrics: `create` defines them in the registry and returns how to record them. */
export interface MetricSet<T> {
  readonly name: string;
  readonly create: (registry: Registry) => T;
}

export function defineMetrics<T>(name: string, create: (registry: Registry) => T): MetricSet<T> {
  return { name, create };
}

/** A counter named `vllm_batch_<name>` in `registry`, for a feature's set. */
export function counter<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Counter<L> {
  return new Counter({ name: `${METRIC_PREFIX}${name}`, help, labelNames, registers: [registry] });
}

/** A gauge named `vllm_batch_<name>` in `registry`, for a feature's set. */
export function gauge<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Gauge<L> {
  return new Gauge({ name: `${METRIC_PREFIX}${name}`, help, labelNames, registers: [registry] });
}

/** Queue job states reported by `Queue.getJobCounts`. */
export const QUEUE_JOB_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'paused'] as const;
export type QueueJobState = (typeof QUEUE_JOB_STATES)[number];

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
    queueJobs: new Gauge({
      name: `${METRIC_PREFIX}queue_jobs`,
      help: 'BullMQ jobs by queue and state (read from Redis every few seconds in the background; aggregate with max across replicas).',
      labelNames: ['queue', 'state'] as const,
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
 * A fresh registry holding the shared metrics, the given feature sets and Node's process metrics,
 * all prefixed.
 * One registry per application instance (never prom-client's global one), so several instances in
 * one process (the tests) do not collide with "metric already registered".
 */
export function createMetricsRegistry(sets: readonly MetricSet<unknown>[] = []): {
  registry: Registry;
  metrics: Metrics;
  features: Map<MetricSet<unknown>, unknown>;
} {
  const registry = new Registry();
  const metrics = createMetrics(registry);
  const features = new Map(sets.map((set) => [set, set.create(registry)]));
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return { registry, metrics, features };
}
