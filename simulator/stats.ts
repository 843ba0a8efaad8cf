/** The simulator's counters: stats since the last reset, and lifetime totals behind /metrics. */
import type { Engine } from './engine';
import type { FinishReason } from './completions';

export interface SimulatorStats {
  /** Inference requests received (chat, completion, embedding, response, score, rerank). */
  received: number;
  /** Every request by path (control endpoints excluded; unknown paths under "other"). */
  byEndpoint: Record<string, number>;
  /** Inference requests answered 200. */
  completed: number;
  /** Inference requests answered with an injected 500. */
  failedInjected: number;
  /** Inference requests whose client went away before the response. */
  aborted: number;
  running: number;
  waiting: number;
  maxRunning: number;
  maxWaiting: number;
  preemptions: number;
  /** Time-weighted means since the reset (idle time counts as 0). */
  meanRunning: number;
  meanWaiting: number;
  promptTokens: number;
  generationTokens: number;
  /** Epoch ms of the last inference request received. */
  lastRequestAt: number | null;
  /** HTTP requests open now (control endpoints excluded). */
  inFlight: number;
  maxInFlight: number;
  // For fault tests:
  /** Inference requests answered with an injected 429. */
  injected429: number;
  /** Inference requests that were left hanging on purpose. */
  injectedHangs: number;
  /** Requests answered 503 because of an outage in '503' mode. */
  outageRejected: number;
  /** Open inference requests cut off by an outage in 'refuse' mode (not counted in aborted). */
  droppedByOutage: number;
  /** Inference requests answered 4xx by validation or 503 because the waiting queue was full. */
  rejected: number;
  /** KV cache usage now, 0..1. */
  kvCacheUsage: number;
}

const zeroCounts = () => ({
  received: 0,
  completed: 0,
  failedInjected: 0,
  aborted: 0,
  injected429: 0,
  injectedHangs: 0,
  outageRejected: 0,
  droppedByOutage: 0,
  rejected: 0,
});

export class StatsBook {
  /** Counts since the last reset. */
  counts = zeroCounts();
  /** Lifetime totals: they back Prometheus counters, so they never reset. */
  readonly successTotals = { stop: 0, length: 0 };
  abortedTotal = 0;
  private byEndpoint: Record<string, number> = {};
  private lastRequestAt: number | null = null;
  private inFlight = 0;
  private maxInFlight = 0;
  /** Engine counters at the last reset. */
  private base = { preemptions: 0, promptTokens: 0, generationTokens: 0 };

  requestOpened(endpointKey: string): void {
    this.byEndpoint[endpointKey] = (this.byEndpoint[endpointKey] ?? 0) + 1;
    this.inFlight++;
    if (this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;
  }

  requestClosed(): void {
    this.inFlight--;
  }

  inferenceReceived(): void {
    this.counts.received++;
    this.lastRequestAt = Date.now();
  }

  succeeded(reason: FinishReason): void {
    this.counts.completed++;
    this.successTotals[reason]++;
  }

  /** A client left before its answer; during a 'refuse' outage the outage cut it off. */
  clientGone(byOutage: boolean): void {
    if (byOutage) {
      this.counts.droppedByOutage++;
    } else {
      this.counts.aborted++;
      this.abortedTotal++;
    }
  }

  snapshot(engine: Engine<unknown>, now: number): SimulatorStats {
    const levels = engine.levelStats(now);
    const c = engine.counters;
    const s = this.counts;
    return {
      received: s.received,
      byEndpoint: { ...this.byEndpoint },
      completed: s.completed,
      failedInjected: s.failedInjected,
      aborted: s.aborted,
      running: engine.numRunning,
      waiting: engine.numWaiting,
      maxRunning: levels.maxRunning,
      maxWaiting: levels.maxWaiting,
      preemptions: c.preemptions - this.base.preemptions,
      meanRunning: levels.meanRunning,
      meanWaiting: levels.meanWaiting,
      promptTokens: c.promptTokens - this.base.promptTokens,
      generationTokens: c.generationTokens - this.base.generationTokens,
      lastRequestAt: this.lastRequestAt,
      inFlight: this.inFlight,
      maxInFlight: this.maxInFlight,
      injected429: s.injected429,
      injectedHangs: s.injectedHangs,
      outageRejected: s.outageRejected,
      droppedByOutage: s.droppedByOutage,
      rejected: s.rejected,
      kvCacheUsage: engine.kvCacheUsage,
    };
  }

  reset(engine: Engine<unknown>, now: number): void {
    this.counts = zeroCounts();
    this.byEndpoint = {};
    this.lastRequestAt = null;
    this.maxInFlight = this.inFlight;
    const { preemptions, promptTokens, generationTokens } = engine.counters;
    this.base = { preemptions, promptTokens, generationTokens };
    engine.resetLevelStats(now);
  }
}
