import { Logger } from '@nestjs/common';
import { untilTrue } from './upstream-policies';

const PROBE_EVERY_MS = 1000;
/** Waiters resume spread over this window, so a recovering vLLM is not hit by every line at once. */
const RESUME_SPREAD_MS = 500;

/**
 * Pauses dispatch while vLLM is down, for every batch of one worker process. A line whose request
 * could not connect (or was answered 503) reports it here and waits instead of spending its retry
 * attempts on an outage; no new line is sent while the gate is shut. The gate probes vLLM's /health
 * (at once, then every second) and opens again at the first answer that is not a 5xx, releasing the
 * waiters spread over half a second. A 10 s outage (vLLM restarting, a proxy answering 503) thus
 * fails no line, however short the retry budget; a batch waits as long as its completion window.
 */
export class UpstreamGate {
  private shutSince: number | null = null;
  private waiters = new Set<{ resolve: () => void; reject: (e: Error) => void }>();
  private probing = false;
  private closed = false;
  private readonly stopProbing = new AbortController();
  private readonly probeUntilUp = untilTrue(PROBE_EVERY_MS);
  private readonly logger = new Logger('UpstreamGate');

  /** `probe` resolves true when vLLM answers its health check. */
  constructor(private readonly probe: () => Promise<boolean>) {}

  get isShut(): boolean {
    return this.shutSince !== null;
  }

  /** A request found vLLM unreachable or unavailable: shut the gate and start probing. */
  reportDown(reason: string): void {
    if (this.closed || this.shutSince !== null) return;
    this.shutSince = Date.now();
    this.logger.warn(`vLLM looks down (${reason}); dispatch paused until its health check answers`);
    void this.probeLoop();
  }

  /** An answer arrived: vLLM is up. */
  reportUp(): void {
    if (this.shutSince !== null) this.open();
  }

  /** Resolves at once while the gate is open; otherwise when it opens. Rejects when `signal` aborts. */
  wait(signal: AbortSignal): Promise<void> {
    if (this.shutSince === null) return Promise.resolve();
    if (signal.aborted) return Promise.reject(new Error('aborted'));
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        reject(new Error('aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Stops probing and lets every waiter go (the process is stopping). */
  close(): void {
    this.closed = true;
    this.stopProbing.abort();
    this.open();
  }

  private open(): void {
    const since = this.shutSince;
    this.shutSince = null;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) setTimeout(w.resolve, Math.random() * RESUME_SPREAD_MS).unref();
    if (since !== null && !this.closed) {
      this.logger.log(
        `vLLM is back after ${((Date.now() - since) / 1000).toFixed(1)} s; dispatch resumed (${waiters.length} waiting request(s))`,
      );
    }
  }

  private async probeLoop(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const up = await this.probeUntilUp.execute(async () => {
        // Opened meanwhile (an answer arrived) or closed: nothing left to probe for.
        if (this.shutSince === null || this.closed) return null;
        return this.probe().catch(() => false);
      }, this.stopProbing.signal);
      if (up === true) this.open();
    } finally {
      this.probing = false;
    }
  }
}
