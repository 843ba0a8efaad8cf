import { Logger } from '@nestjs/common';
import { untilTrue } from './upstream-policies';

const PROBE_EVERY_MS = 1000;
/** Failed answers in a row (5xx, timeouts) that take a replica out. */
export const FAILURES_TO_OPEN = 5;

/**
 * The circuit breaker of one vLLM replica. Open = the replica gets no new request: a refused
 * connection or a 502/503/504 (vLLM gone, restarting, or a proxy with no backend) opens it at once;
 * other failures (500s, timeouts) open it after FAILURES_TO_OPEN in a row. While open it probes
 * the replica's /health (at once, then every second) and closes at the first answer that is not a
 * 5xx; any answer to a request closes it too. After reopening, one more failure opens it again
 * (half-open), so a replica whose /health lies is not handed a stream of lines to fail. Lines that
 * met the open replica go to the other replicas of their model, or wait for one, without using
 * their retry attempts: an outage fails no line.
 */
export class ReplicaBreaker {
  private openSince: number | null = null;
  private failures = 0;
  private probing = false;
  private closed = false;
  private readonly stopProbing = new AbortController();
  private readonly probeUntilUp = untilTrue(PROBE_EVERY_MS);
  private readonly logger = new Logger('ReplicaBreaker');

  /**
   * `probe` resolves true when the replica answers its health check; `onChange` hears every
   * opening and closing (the pool hands out the replica's slots again, metrics follow).
   */
  constructor(
    private readonly name: string,
    private readonly probe: () => Promise<boolean>,
    private readonly onChange: (open: boolean) => void = () => undefined,
  ) {}

  get isOpen(): boolean {
    return this.openSince !== null;
  }

  /** The replica is unreachable or unavailable: open at once and start probing. */
  reportDown(reason: string): void {
    this.failures = FAILURES_TO_OPEN;
    this.open(reason);
  }

  /** A failed answer (5xx, timeout): opens after FAILURES_TO_OPEN in a row. */
  reportFailure(reason: string): void {
    if (++this.failures >= FAILURES_TO_OPEN)
      this.open(`${this.failures} failures in a row, the last: ${reason}`);
  }

  /** An answer arrived: the replica is up. */
  reportUp(): void {
    if (this.openSince !== null) this.close();
    else this.failures = 0;
  }

  /** Stops probing (the replica left the pool, or the process is stopping). */
  dispose(): void {
    this.closed = true;
    this.stopProbing.abort();
  }

  private open(reason: string): void {
    if (this.closed || this.openSince !== null) return;
    this.openSince = Date.now();
    this.logger.warn(`vLLM ${this.name} taken out (${reason}); probing its /health every second`);
    this.onChange(true);
    void this.probeLoop();
  }

  private close(): void {
    const since = this.openSince;
    this.openSince = null;
    // Half-open: the next failure opens it again.
    this.failures = FAILURES_TO_OPEN - 1;
    if (since !== null && !this.closed) {
      this.logger.log(`vLLM ${this.name} is back after ${((Date.now() - since) / 1000).toFixed(1)} s`);
      this.onChange(false);
    }
  }

  private async probeLoop(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const up = await this.probeUntilUp.execute(async () => {
        // Closed meanwhile (an answer arrived) or disposed: nothing left to probe for.
        if (this.openSince === null || this.closed) return null;
        return this.probe().catch(() => false);
      }, this.stopProbing.signal);
      if (up === true) this.close();
    } catch {
      // disposed while probing
    } finally {
      this.probing = false;
    }
  }
}
