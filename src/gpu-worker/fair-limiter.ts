/**
 * The in-flight limit for upstream requests of one worker process, shared by every batch it runs.
 * When the limit is reached, waiting batches are served round-robin: each freed slot goes to the
 * next batch in turn, so a small batch submitted behind a 50,000-line one gets its share at once
 * instead of queueing behind it.
 */
export class FairLimiter {
  private inflight = 0;
  private readonly waiters = new Map<string, Array<{ resolve: () => void; reject: (e: Error) => void }>>();
  /** Batch keys with waiters, in round-robin order. */
  private ring: string[] = [];

  constructor(private limitValue: number) {}

  get limit(): number {
    return this.limitValue;
  }

  get active(): number {
    return this.inflight;
  }

  setLimit(limit: number): void {
    this.limitValue = Math.max(1, Math.floor(limit));
    this.grant();
  }

  acquire(key: string): Promise<void> {
    if (this.inflight < this.limitValue && this.ring.length === 0) {
      this.inflight++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      let queue = this.waiters.get(key);
      if (!queue) {
        queue = [];
        this.waiters.set(key, queue);
        this.ring.push(key);
      }
      queue.push({ resolve, reject });
      this.grant();
    });
  }

  release(): void {
    this.inflight--;
    this.grant();
  }

  /** Rejects every waiter of one batch (it was cancelled or its worker is stopping). */
  abandon(key: string, reason: Error): void {
    const queue = this.waiters.get(key);
    if (!queue) return;
    this.waiters.delete(key);
    this.ring = this.ring.filter((k) => k !== key);
    for (const w of queue) w.reject(reason);
  }

  private grant(): void {
    while (this.inflight < this.limitValue && this.ring.length > 0) {
      const key = this.ring.shift() as string;
      const queue = this.waiters.get(key) as Array<{ resolve: () => void }>;
      const next = queue.shift() as { resolve: () => void };
      if (queue.length > 0) this.ring.push(key);
      else this.waiters.delete(key);
      this.inflight++;
      next.resolve();
    }
  }
}
