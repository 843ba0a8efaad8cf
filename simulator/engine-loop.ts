/** Drives an `Engine` in wall-clock time. */
import type { Engine, SubmitResult } from './engine';
import type { Sequence, SequenceInput } from './sequence';

export interface LoopClock {
  /** Monotonic milliseconds. */
  now(): number;
}

export interface EngineLoopHandlers<T> {
  /** Called at the end of the step that produced the sequence's last token. */
  onFinished(seq: Sequence<T>): void;
  /** Called for a sequence that can never fit the KV cache. */
  onFailed(seq: Sequence<T>): void;
}

/**
 * Runs `engine.step()` back to back in wall-clock time while there is work, and idles (no timer
 * at all) when there is none. Steps are scheduled against an absolute timeline (`nextStepAt`),
 * so timer jitter does not add up, and when the event loop falls behind the missed steps are run
 * in a burst: the simulated GPU keeps working while Node is busy, like a real one.
 */
export class EngineLoop<T> {
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private nextStepAt = 0;
  /** Finished by the step in progress; delivered when that step's time is over. */
  private pending: Sequence<T>[] = [];
  private closed = false;

  constructor(
    readonly engine: Engine<T>,
    private readonly handlers: EngineLoopHandlers<T>,
    private readonly clock: LoopClock = performance,
    /** Most steps run in one timer callback before yielding to I/O. */
    private readonly maxBurst = 256,
  ) {}

  now(): number {
    return this.clock.now();
  }

  submit(input: SequenceInput, data: T): SubmitResult<T> {
    const result = this.engine.submit(input, data, this.clock.now());
    if (result.ok) this.kick();
    return result;
  }

  abort(seq: Sequence<T>): boolean {
    const removed = this.engine.abort(seq, this.clock.now());
    // Freed blocks may let a waiting sequence in; the loop is running anyway when something was.
    return removed;
  }

  /** Wake the loop (after a submit or a configuration change). */
  kick(): void {
    if (this.closed || this.timer !== null || this.immediate !== null) return;
    // setImmediate batches every request that arrived in the same I/O turn into one first step.
    this.immediate = setImmediate(this.run);
  }

  get idle(): boolean {
    return this.timer === null && this.immediate === null;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    this.pending = [];
  }

  private readonly run = (): void => {
    this.timer = null;
    this.immediate = null;
    if (this.closed) return;
    const now = this.clock.now();
    if (this.engine.numRunning === 0 && this.pending.length === 0 && this.nextStepAt < now) {
      // Coming back from idle: the GPU starts now, not at the end of the last busy period.
      this.nextStepAt = now;
    } else if (this.nextStepAt < now - 1000) {
      // The event loop stalled for over a second: don't replay all of it in one burst.
      this.nextStepAt = now - 1000;
    }

    let burst = 0;
    for (;;) {
      this.deliver();
      if (!this.engine.hasWork()) {
        this.engine.settle(this.nextStepAt);
        return; // idle: no timer until the next submit
      }
      const result = this.engine.step(this.nextStepAt);
      for (const seq of result.failed) this.handlers.onFailed(seq);
      this.pending = result.finished;
      // An empty batch with work left cannot normally happen (an empty GPU admits the head or
      // fails it); wait a millisecond instead of spinning if it ever does.
      this.nextStepAt += result.durationMs > 0 ? result.durationMs : 1;
      if (this.nextStepAt > now || ++burst >= this.maxBurst) break;
    }
    const delay = this.nextStepAt - now;
    if (delay < 1) this.immediate = setImmediate(this.run);
    else this.timer = setTimeout(this.run, delay);
  };

  private deliver(): void {
    if (this.pending.length === 0) return;
    const done = this.pending;
    this.pending = [];
    for (const seq of done) this.handlers.onFinished(seq);
  }
}
