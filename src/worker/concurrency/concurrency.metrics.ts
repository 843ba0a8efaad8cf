import { defineMetrics } from '../../platform/metrics/metrics';
import { LIMIT_REASONS, LimitReason } from './control-law';

/** The concurrency controller's view: global limit, upstream gauges (null = unknown), leadership. */
export interface ConcurrencyState {
  globalLimit: number;
  reason: LimitReason;
  leader: boolean;
  workers: number;
  kvUsage: number | null;
  waiting: number | null;
  running: number | null;
}

/** The adaptive in-flight limit's metrics, and vLLM's own gauges as the controller last read them. */
export const CONCURRENCY_METRICS = defineMetrics('concurrency', ({ counter, gauge }) => {
  const globalLimit = gauge(
    'concurrency_global_limit',
    "In-flight limit for the whole vLLM endpoint, shared by every worker (adaptive mode; fixed mode: this worker's limit).",
  );
  const limitChanges = counter(
    'concurrency_limit_changes_total',
    'Changes of the global in-flight limit by the reason of the change (counted by the worker that ran the control law).',
    ['reason'],
  );
  const limitReason = gauge(
    'concurrency_limit_reason',
    'Why the global in-flight limit last changed: 1 for that reason, 0 for the others.',
    ['reason'],
  );
  const leader = gauge(
    'concurrency_leader',
    '1 when this worker runs the concurrency control law for its vLLM endpoint, else 0.',
  );
  const workers = gauge(
    'concurrency_workers',
    'Live worker processes sharing the in-flight limit of the vLLM endpoint.',
  );
  const kvCacheUsage = gauge(
    'upstream_kv_cache_usage_ratio',
    "vLLM's KV-cache usage (0..1) at the controller's last scrape of its /metrics.",
  );
  const waiting = gauge(
    'upstream_requests_waiting',
    "Requests in vLLM's waiting queue (all clients) at the controller's last scrape.",
  );
  const running = gauge(
    'upstream_requests_running',
    "Requests in vLLM's running batch (all clients) at the controller's last scrape.",
  );
  // Every reason of a limit change is a series from the start (0 until it happens).
  for (const reason of LIMIT_REASONS) limitChanges.inc({ reason }, 0);
  return {
    state(state: ConcurrencyState): void {
      globalLimit.set(state.globalLimit);
      for (const reason of LIMIT_REASONS) limitReason.set({ reason }, reason === state.reason ? 1 : 0);
      leader.set(state.leader ? 1 : 0);
      workers.set(state.workers);
      if (state.kvUsage !== null) kvCacheUsage.set(state.kvUsage);
      if (state.waiting !== null) waiting.set(state.waiting);
      if (state.running !== null) running.set(state.running);
    },
    /** The control law changed the global in-flight limit for this reason. */
    limitChanged(reason: LimitReason): void {
      limitChanges.inc({ reason });
    },
  };
});
