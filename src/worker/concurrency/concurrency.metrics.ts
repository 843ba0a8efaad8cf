import { Counter, Gauge } from 'prom-client';
import { defineMetrics, METRIC_PREFIX } from '../../platform/metrics/metrics';
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
export const CONCURRENCY_METRICS = defineMetrics('concurrency', (registry) => {
  const registers = [registry];
  const globalLimit = new Gauge({
    name: `${METRIC_PREFIX}concurrency_global_limit`,
    help: "In-flight limit for the whole vLLM endpoint, shared by every worker (adaptive mode; fixed mode: this worker's limit).",
    registers,
  });
  const limitChanges = new Counter({
    name: `${METRIC_PREFIX}concurrency_limit_changes_total`,
    help: 'Changes of the global in-flight limit by the reason of the change (counted by the worker that ran the control law).',
    labelNames: ['reason'] as const,
    registers,
  });
  const limitReason = new Gauge({
    name: `${METRIC_PREFIX}concurrency_limit_reason`,
    help: 'Why the global in-flight limit last changed: 1 for that reason, 0 for the others.',
    labelNames: ['reason'] as const,
    registers,
  });
  const leader = new Gauge({
    name: `${METRIC_PREFIX}concurrency_leader`,
    help: '1 when this worker runs the concurrency control law for its vLLM endpoint, else 0.',
    registers,
  });
  const workers = new Gauge({
    name: `${METRIC_PREFIX}concurrency_workers`,
    help: 'Live worker processes sharing the in-flight limit of the vLLM endpoint.',
    registers,
  });
  const kvCacheUsage = new Gauge({
    name: `${METRIC_PREFIX}upstream_kv_cache_usage_ratio`,
    help: "vLLM's KV-cache usage (0..1) at the controller's last scrape of its /metrics.",
    registers,
  });
  const waiting = new Gauge({
    name: `${METRIC_PREFIX}upstream_requests_waiting`,
    help: "Requests in vLLM's waiting queue (all clients) at the controller's last scrape.",
    registers,
  });
  const running = new Gauge({
    name: `${METRIC_PREFIX}upstream_requests_running`,
    help: "Requests in vLLM's running batch (all clients) at the controller's last scrape.",
    registers,
  });
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
