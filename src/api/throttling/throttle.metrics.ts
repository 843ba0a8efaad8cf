import { Counter } from 'prom-client';
import { defineMetrics, METRIC_PREFIX } from '../../platform/metrics/metrics';

/** The rate limiter's answers: 429s, and requests let through while its store was away. */
export const THROTTLE_METRICS = defineMetrics('throttling', (registry) => {
  const registers = [registry];
  const throttled = new Counter({
    name: `${METRIC_PREFIX}throttled_requests_total`,
    help: 'Requests answered 429 by the rate limiter, by named throttler.',
    labelNames: ['throttler'] as const,
    registers,
  });
  const failOpen = new Counter({
    name: `${METRIC_PREFIX}throttle_fail_open_total`,
    help: 'Requests let through unthrottled because the rate-limit store (Redis) did not answer.',
    labelNames: ['throttler'] as const,
    registers,
  });
  return {
    /** A request was answered 429 by the named throttler. */
    throttled(name: string): void {
      throttled.inc({ throttler: name });
    },
    /** A request passed unthrottled because the rate-limit store did not answer. */
    failedOpen(name: string): void {
      failOpen.inc({ throttler: name });
    },
  };
});
