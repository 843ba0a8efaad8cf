import { THROTTLE_METRICS } from './api/throttling/throttle.metrics';
import { BATCH_METRICS } from './domain/batches/batch.metrics';
import { WEBHOOK_METRICS } from './domain/webhooks/webhook.metrics';
import type { MetricSet } from './platform/metrics/metrics';
import { CONCURRENCY_METRICS } from './worker/concurrency/concurrency.metrics';
import { ENDPOINT_METRICS } from './worker/pool/endpoint.metrics';

/**
 * Every feature's own metric set, registered in the one catalogue (MetricsService) in every role,
 * so /metrics lists the same series whichever role serves it.
 */
export const FEATURE_METRIC_SETS: readonly MetricSet<unknown>[] = [
  BATCH_METRICS,
  WEBHOOK_METRICS,
  CONCURRENCY_METRICS,
  ENDPOINT_METRICS,
  THROTTLE_METRICS,
];
