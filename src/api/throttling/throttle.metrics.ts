import { defineMetrics } from '../../platform/metrics/metrics';

/** The rate limiter's answers: 429s, and requests let through while its store was away. */
export const THROTTLE_METRICS = defineMetrics('throttling', ({ counter }) => {
  const throttled = counter(
    'throttled_requests_total',
    'Requests answered 429 by the rate limiter, by named throttler.',
    ['throttler'],
  );
  const failOpen = counter(
    'throttle_fail_open_total',
    'Requests let through unthrottled because the rate-limit store (Redis) did not answer.',
    ['throttler'],
  );
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
