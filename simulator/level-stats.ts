/**
 * Time-weighted levels of the running batch and the waiting queue: integrals of level × time since
 * the last reset, and the maxima. Time is whatever clock the engine is given.
 */

/** Time-weighted levels and maxima since the last reset. */
export interface EngineLevelStats {
  maxRunning: number;
  maxWaiting: number;
  meanRunning: number;
  meanWaiting: number;
}

export class LevelTracker {
  private since: number;
  private at: number;
  private running = 0;
  private waiting = 0;
  private runningIntegral = 0;
  private waitingIntegral = 0;
  private maxRunning = 0;
  private maxWaiting = 0;

  constructor(now: number) {
    this.since = now;
    this.at = now;
  }

  /** Close the current segment at `now` (the levels held until then). */
  advance(now: number): void {
    if (now > this.at) {
      const dt = now - this.at;
      this.runningIntegral += this.running * dt;
      this.waitingIntegral += this.waiting * dt;
      this.at = now;
    }
  }

  /** The levels from the current time on. */
  set(running: number, waiting: number): void {
    this.running = running;
    this.waiting = waiting;
    if (running > this.maxRunning) this.maxRunning = running;
    if (waiting > this.maxWaiting) this.maxWaiting = waiting;
  }

  stats(now: number): EngineLevelStats {
    this.advance(now);
    const span = this.at - this.since;
    return {
      maxRunning: this.maxRunning,
      maxWaiting: this.maxWaiting,
      meanRunning: span > 0 ? this.runningIntegral / span : this.running,
      meanWaiting: span > 0 ? this.waitingIntegral / span : this.waiting,
    };
  }

  /** Start over at `now`; the maxima start at the current levels. */
  reset(now: number, running: number, waiting: number): void {
    this.since = now;
    this.at = now;
    this.runningIntegral = 0;
    this.waitingIntegral = 0;
    this.maxRunning = running;
    this.maxWaiting = waiting;
  }
}
