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

/** How a feature set declares its metrics: in the set's registry, named `vllm_batch_<name>`. */
export interface MetricDeclarer {
  counter<L extends string = never>(name: string, help: string, labelNames?: readonly L[]): Counter<L>;
  gauge<L extends string = never>(name: string, help: string, labelNames?: readonly L[]): Gauge<L>;
  histogram<L extends string = never>(
    name: string,
    help: string,
    buckets: number[],
    labelNames?: readonly L[],
  ): Histogram<L>;
}

export function defineMetrics<T>(name: string, declare: (metrics: MetricDeclarer) => T): MetricSet<T> {
  return {
    name,
    create: (registry) =>
      declare({
        counter: (metric, help, labelNames) => counter(registry, metric, help, labelNames),
        gauge: (metric, help, labelNames) => gauge(registry, metric, help, labelNames),
        histogram: (metric, help, buckets, labelNames) =>
          histogram(registry, metric, help, buckets, labelNames),
      }),
  };
}

/** A metric of the catalogue or of a feature set: registry, name after the prefix, help, labels. */
type MetricArgs<L extends string> = [
  registry: Registry,
  name: string,
  help: string,
  labelNames?: readonly L[],
];

function metricOptions<L extends string>(...[registry, name, help, labelNames = []]: MetricArgs<L>) {
  return { name: `${METRIC_PREFIX}${name}`, help, labelNames, registers: [registry] };
}

/** A counter named `vllm_batch_<name>` in `registry`. */
export const counter = <L extends string = never>(...args: MetricArgs<L>): Counter<L> =>
  new Counter(metricOptions(...args));

/** A gauge named `vllm_batch_<name>` in `registry`. */
export const gauge = <L extends string = never>(...args: MetricArgs<L>): Gauge<L> =>
  new Gauge(metricOptions(...args));

/** A histogram named `vllm_batch_<name>` in `registry`, with these buckets. */
export function histogram<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  buckets: number[],
  labelNames: readonly L[] = [],
): Histogram<L> {
  return new Histogram({ ...metricOptions(registry, name, help, labelNames), buckets });
}

/** Queue job states reported by `Queue.getJobCounts`. */
export const QUEUE_JOB_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'paused'] as const;
export type QueueJobState = (typeof QUEUE_JOB_STATES)[number];

export type UpstreamOutcome =
  'ok' | 'upstream_4xx' | 'upstream_5xx' | 'timeout' | 'connection_error' | 'retried';

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// An upstream completion takes from milliseconds (embeddings) to minutes (long generations).
export const UPSTREAM_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];
// Validation and finalization stream whole files: from tiny test files to 50k-line batches.
const FILE_PASS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

export function createMetrics(registry: Registry) {
  return {
    httpRequests: counter(
      registry,
      'http_requests_total',
      'HTTP requests answered, by method, route template (or "unmatched") and status code.',
      ['method', 'route', 'status'],
    ),
    httpRequestDuration: histogram(
      registry,
      'http_request_duration_seconds',
      'Time from receiving an HTTP request to finishing its response.',
      HTTP_BUCKETS,
      ['method', 'route', 'status'],
    ),
    upstreamRequests: counter(
      registry,
      'upstream_requests_total',
      'Batch lines dispatched to vLLM, by outcome (retried = a transient failure that will be retried).',
      ['outcome'],
    ),
    upstreamDuration: histogram(
      registry,
      'upstream_request_duration_seconds',
      'Latency of requests to vLLM, by outcome.',
      UPSTREAM_BUCKETS,
      ['outcome'],
    ),
    upstreamInflight: gauge(
      registry,
      'upstream_inflight_requests',
      'Requests to vLLM currently in flight from this worker.',
    ),
    upstreamInflightLimit: gauge(
      registry,
      'upstream_inflight_limit',
      "The worker's current in-flight limit (adaptive or fixed).",
    ),
    promptTokens: counter(
      registry,
      'prompt_tokens_total',
      'Prompt tokens reported by vLLM in successful responses.',
    ),
    completionTokens: counter(
      registry,
      'completion_tokens_total',
      'Completion tokens reported by vLLM in successful responses.',
    ),
    validationDuration: histogram(
      registry,
      'validation_duration_seconds',
      'Time to validate a batch input file.',
      FILE_PASS_BUCKETS,
    ),
    finalizeDuration: histogram(
      registry,
      'finalize_duration_seconds',
      'Time to write the output and error files of a batch.',
      FILE_PASS_BUCKETS,
    ),
    queueJobs: gauge(
      registry,
      'queue_jobs',
      'BullMQ jobs by queue and state (read from Redis every few seconds in the background; aggregate with max across replicas).',
      ['queue', 'state'],
    ),
    dependencyUp: gauge(
      registry,
      'dependency_up',
      '1 while this process reaches the dependency (postgres, redis, storage), 0 while it does not (checked every few seconds). Alerts use it to catch a worker stuck without Redis, which readiness does not.',
      ['dependency'],
    ),
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
