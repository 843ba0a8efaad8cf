import type { DispatchOutcomes, LawSignals } from './control-law';
import type { WorkerReport } from './coordinator';
import type { VllmSample } from './vllm-metrics';

/** A worker whose heartbeat stopped this long ago no longer gets a share. */
export const WORKER_STALE_MS = 5000;

/** The dispatch outcomes a report counts cumulatively; the law wants them per tick. */
const OUTCOME_KEYS: readonly (keyof DispatchOutcomes)[] = [
  'ok',
  'latencyMsSum',
  'promptTokens',
  'completionTokens',
  'overloaded',
  'timeouts',
];

interface Seen {
  seq: number;
  changedAt: number;
  last: WorkerReport;
}

/**
 * The leader's view of the workers: from their cumulative reports, the outcomes since the
 * previous round and which workers are still alive (their seq moved within WORKER_STALE_MS). A
 * worker that cannot reach Redis runs the same aggregation over its own report alone.
 */
export class ReportTracker {
  private readonly seen = new Map<string, Seen>();

  /** Forget every worker (a new leadership starts from the next reports). */
  clear(): void {
    this.seen.clear();
  }

  aggregate(
    reports: WorkerReport[],
    now: number,
  ): { live: WorkerReport[]; stale: string[]; outcomes: DispatchOutcomes } {
    const live: WorkerReport[] = [];
    const stale: string[] = [];
    const outcomes = noOutcomes();
    for (const r of reports) {
      const seen = this.seen.get(r.id);
      if (!seen) {
        // First sighting: its counters so far are history, not this tick's events.
        this.seen.set(r.id, { seq: r.seq, changedAt: now, last: r });
        live.push(r);
        continue;
      }
      if (r.seq === seen.seq) {
        if (now - seen.changedAt > WORKER_STALE_MS) {
          stale.push(r.id);
          this.seen.delete(r.id);
        } else live.push(r);
        continue;
      }
      for (const k of OUTCOME_KEYS) outcomes[k] += Math.max(0, r[k] - seen.last[k]);
      this.seen.set(r.id, { seq: r.seq, changedAt: now, last: r });
      live.push(r);
    }
    return { live, stale, outcomes };
  }
}

function noOutcomes(): DispatchOutcomes {
  return { ok: 0, latencyMsSum: 0, promptTokens: 0, completionTokens: 0, overloaded: 0, timeouts: 0 };
}

/** What the law sees: the sum of the live workers' demand and outcomes, and vLLM's gauges. */
export function lawSignals(
  vllm: VllmSample | null,
  live: WorkerReport[],
  outcomes: DispatchOutcomes,
): LawSignals {
  const sum = (pick: (r: WorkerReport) => number): number => live.reduce((a, r) => a + pick(r), 0);
  const lineN = sum((r) => r.lineN);
  return {
    vllm,
    inflight: sum((r) => r.inflight),
    queued: sum((r) => r.queued),
    pending: sum((r) => r.pending),
    ...outcomes,
    lines:
      lineN > 0.5
        ? { promptTokens: sum((r) => r.linePrompt) / lineN, maxTokens: sum((r) => r.lineMax) / lineN }
        : null,
  };
}
