import { Logger } from '@nestjs/common';
import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import { BatchEntity } from '../batches/batch.entity';
import { readJsonlLines } from '../batches/jsonl-reader';
import { FairLimiter } from './fair-limiter';
import { LineDispatcher } from './line-dispatcher';
import { ResultRecorder } from './result-recorder';

export type StopReason = 'cancelled' | 'expired' | 'shutdown';

export interface DispatchDeps {
  limiter: FairLimiter;
  lines: LineDispatcher;
  recorder: ResultRecorder;
  /** Line numbers already recorded (a resumed batch skips them). */
  done: Set<number>;
  openInput: () => Promise<Readable>;
  /** Reads the batch's current status; polled so a cancel from any API replica is seen within a second. */
  currentStatus: () => Promise<string | null>;
  onInflightChange: () => void;
}

const STATUS_POLL_MS = 1000;

/**
 * Runs the not-yet-finished lines of one batch through the shared limiter, streaming the input file.
 * Stops early on cancel, expiry or shutdown: then nothing new is sent and in-flight upstream requests
 * are aborted (a shutdown first lets them finish for a grace period).
 */
export class BatchDispatch {
  private readonly abort = new AbortController();
  private stopReason: StopReason | null = null;
  private readonly inflight = new Set<Promise<void>>();
  private readonly logger = new Logger('BatchDispatch');

  constructor(
    private readonly batch: BatchEntity,
    private readonly deps: DispatchDeps,
  ) {
    // Every in-flight request of the batch listens on this one signal.
    setMaxListeners(0, this.abort.signal);
  }

  get stoppedBy(): StopReason | null {
    return this.stopReason;
  }

  /** Stops dispatch. `graceMs` lets in-flight requests finish first (used on shutdown). */
  stop(reason: StopReason, graceMs = 0): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.deps.limiter.abandon(this.batch.id, new Error(reason));
    if (graceMs <= 0) this.abort.abort();
    else setTimeout(() => this.abort.abort(), graceMs).unref();
  }

  async run(): Promise<StopReason | null> {
    const expiryTimer = setTimeout(
      () => this.stop('expired'),
      Math.max(0, Math.min(this.batch.expiresAt.getTime() - Date.now(), 2 ** 31 - 1)),
    );
    const poll = setInterval(() => {
      this.deps
        .currentStatus()
        .then((s) => {
          if (s === 'cancelling' || s === 'cancelled') this.stop('cancelled');
        })
        .catch(() => undefined);
    }, STATUS_POLL_MS);
    try {
      const input = await this.deps.openInput();
      for await (const item of readJsonlLines(input)) {
        if (this.stopReason) break;
        if ('tooLong' in item || this.deps.done.has(item.lineNo)) continue;
        await this.deps.recorder.waitForRoom();
        try {
          await this.deps.limiter.acquire(this.batch.id);
        } catch {
          break; // abandoned: stopping
        }
        if (this.stopReason) {
          this.deps.limiter.release();
          break;
        }
        this.launch(item.lineNo, item.text);
      }
      input.destroy();
      await Promise.all(this.inflight);
      await this.deps.recorder.drain();
    } finally {
      clearTimeout(expiryTimer);
      clearInterval(poll);
    }
    return this.stopReason;
  }

  private launch(lineNo: number, text: string): void {
    const line = JSON.parse(text) as { custom_id: string; body: Record<string, unknown> };
    const task = this.deps.lines
      .run(this.batch.endpoint, lineNo, line.custom_id, line.body, this.abort.signal)
      .then((result) => {
        if (result) this.deps.recorder.add(result);
      })
      .catch((err) =>
        this.logger.error(
          `line ${lineNo} of ${this.batch.id} failed unexpectedly: ${(err as Error).message}`,
        ),
      )
      .finally(() => {
        this.deps.limiter.release();
        this.inflight.delete(task);
        this.deps.onInflightChange();
      });
    this.inflight.add(task);
    this.deps.onInflightChange();
  }
}
