import { Logger } from '@nestjs/common';
import { BatchEntity } from '../../domain/batches/batch.entity';
import { InputRequest } from '../input/batch-input';
import { LineShape, lineShape } from './line-shape';
import { FairLimiter } from './fair-limiter';
import type { Replica } from '../pool/replica';
import { LineAbort } from '../upstream/line-abort';
import { Lease, LineDispatcher } from './line-dispatcher';
import { ResultRecorder } from './result-recorder';

export type StopReason = 'cancelled' | 'expired' | 'shutdown';

export interface DispatchDeps {
  limiter: FairLimiter<Replica>;
  lines: LineDispatcher;
  recorder: ResultRecorder;
  /** The batch's requests not yet recorded (a resumed batch skips the others), read on demand. */
  input: AsyncGenerator<InputRequest>;
  /** How many lines that is (the batch's total less the recorded ones). */
  remaining: number;
  /** Reads the batch's current status; polled so a cancel from any API replica is seen within a second. */
  currentStatus: () => Promise<string | null>;
  onInflightChange: () => void;
  /** Each line read, with its model and estimated size (feeds the concurrency controller's estimate). */
  onLine?: (model: string, shape: LineShape) => void;
  /** Called once the look-ahead window is first filled, before the first request; awaited. */
  onReady?: () => Promise<void>;
}

const STATUS_POLL_MS = 1000;
/** Lines read ahead of dispatch, to send lines that share a prefix together (bounded memory). */
export const LOOKAHEAD_LINES = 512;
/** ...and at most this many bytes of them per batch (4 KB lines: 256 lines). */
export const LOOKAHEAD_BYTES = 1024 * 1024;

interface PendingLine {
  lineNo: number;
  customId: string;
  body: Record<string, unknown>;
  bytes: number;
  model: string;
  prefixKey: string;
}

/**
 * The look-ahead window: lines grouped by prefix key, groups in order of first appearance. Lines
 * leave one group at a time, so requests sharing a system prompt reach vLLM together and its
 * prefix cache keeps that prefix while it is in use. Within a group, file order.
 */
export class PrefixWindow<T> {
  private readonly groups = new Map<string, T[]>();
  private current: T[] | null = null;
  private currentKey = '';
  size = 0;

  push(key: string, item: T): void {
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = []));
    group.push(item);
    this.size++;
  }

  /** The item shift() returns next, left in place. */
  peek(): T | undefined {
    if (this.size === 0) return undefined;
    if (this.current && this.current.length > 0) return this.current[0];
    return (this.groups.values().next().value as T[])[0];
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    if (!this.current || this.current.length === 0) {
      if (this.current) this.groups.delete(this.currentKey);
      const [key, group] = this.groups.entries().next().value as [string, T[]];
      this.current = group;
      this.currentKey = key;
    }
    this.size--;
    const item = this.current.shift() as T;
    if (this.current.length === 0) {
      this.groups.delete(this.currentKey);
      this.current = null;
    }
    return item;
  }
}

/**
 * Runs the not-yet-finished lines of one batch through the shared limiter, streaming the input file.
 * Stops early on cancel, expiry or shutdown: then nothing new is sent and in-flight upstream requests
 * are aborted (a shutdown first lets them finish for a grace period).
 */
export class BatchDispatch {
  /**
   * The lines in flight: each one's stop switch (all aborted together on stop) and its task. (One
   * AbortSignal shared by every request would do the same, but each request adds listeners to it
   * and EventTarget checks for duplicates linearly: O(in-flight) per request.)
   */
  private readonly inflight = new Map<LineAbort, Promise<void>>();
  private aborted = false;
  private stopReason: StopReason | null = null;
  private readonly logger = new Logger('BatchDispatch');
  private readonly window = new PrefixWindow<PendingLine>();
  private windowBytes = 0;
  /** Lines not yet sent: the tenant's backlog weighs its share of slots (see FairLimiter). */
  private remaining: number;

  constructor(
    private readonly batch: BatchEntity,
    private readonly deps: DispatchDeps,
  ) {
    this.remaining = deps.remaining;
  }

  /** Lines read ahead and not yet sent. */
  get pending(): number {
    return this.window.size;
  }

  /** Requests of this batch in flight. */
  get active(): number {
    return this.inflight.size;
  }

  /** Stops dispatch. `graceMs` lets in-flight requests finish first (used on shutdown). */
  stop(reason: StopReason, graceMs = 0): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.deps.limiter.abandon(this.batch.id, new Error(reason));
    if (graceMs <= 0) this.abortAll();
    else setTimeout(() => this.abortAll(), graceMs).unref();
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
      const lines = this.deps.input;
      const window = this.window;
      let eof = false;
      const fill = async (): Promise<void> => {
        while (
          !eof &&
          window.size < LOOKAHEAD_LINES &&
          this.windowBytes < LOOKAHEAD_BYTES &&
          !this.stopReason
        ) {
          const next = await lines.next();
          if (next.done) {
            eof = true;
            break;
          }
          this.admit(window, next.value);
        }
      };
      await fill();
      if (this.deps.onReady && window.size > 0 && !this.stopReason) await this.deps.onReady();
      for (;;) {
        await fill();
        if (this.stopReason || window.size === 0) break;
        await this.deps.recorder.waitForRoom();
        const next = window.peek() as PendingLine;
        let replica: Replica;
        try {
          replica = await this.deps.limiter.acquire(this.batch.id, this.slotRequest(next));
        } catch {
          break; // abandoned: stopping
        }
        if (this.stopReason) {
          this.deps.limiter.release(replica);
          break;
        }
        window.shift();
        this.windowBytes -= next.bytes;
        this.remaining--;
        this.launch(next, replica);
      }
      await lines.return(undefined).catch(() => undefined);
      await Promise.all(this.inflight.values());
      await this.deps.recorder.drain();
    } finally {
      clearTimeout(expiryTimer);
      clearInterval(poll);
      this.deps.limiter.forget(this.batch.id);
    }
    return this.stopReason;
  }

  /** Notes a validated line's size and files it under its prefix. */
  private admit(window: PrefixWindow<PendingLine>, { lineNo, chars, line }: InputRequest): void {
    if (!line.ok) throw new Error(`line ${lineNo} of the input of ${this.batch.id} is not a JSON object`);
    const { custom_id: customId, body } = line.fields as { custom_id: string; body: Record<string, unknown> };
    const shape = lineShape(body, this.batch.endpoint);
    const model = typeof body.model === 'string' ? body.model : '';
    this.deps.onLine?.(model, shape);
    this.windowBytes += chars;
    window.push(shape.prefixKey, {
      lineNo,
      customId,
      body,
      bytes: chars,
      model,
      prefixKey: shape.prefixKey,
    });
  }

  private slotRequest(line: Pick<PendingLine, 'model' | 'prefixKey'>) {
    return {
      tenant: this.batch.tenantId,
      expiresAtMs: this.batch.expiresAt.getTime(),
      remaining: this.remaining,
      model: line.model,
      prefixKey: line.prefixKey,
    };
  }

  /** The line's slot: released when it ends, moved to another replica when its replica is down. */
  private lease(line: PendingLine, replica: Replica): Lease & { held: boolean; replica: Replica } {
    const limiter = this.deps.limiter;
    const lease = {
      replica,
      held: true,
      move: async (): Promise<boolean> => {
        limiter.release(lease.replica);
        lease.held = false;
        try {
          lease.replica = await limiter.acquire(this.batch.id, this.slotRequest(line));
        } catch {
          return false; // abandoned: the batch is stopping
        }
        lease.held = true;
        return true;
      },
    };
    return lease;
  }

  private abortAll(): void {
    this.aborted = true;
    for (const c of this.inflight.keys()) c.abort();
  }

  private launch(line: PendingLine, replica: Replica): void {
    const controller = new LineAbort();
    if (this.aborted) controller.abort();
    this.inflight.set(controller, this.runLine(line, controller, this.lease(line, replica)));
    this.deps.onInflightChange();
  }

  private async runLine(
    { lineNo, customId, body }: PendingLine,
    controller: LineAbort,
    lease: Lease & { held: boolean; replica: Replica },
  ): Promise<void> {
    try {
      const result = await this.deps.lines.run(
        this.batch.endpoint,
        lineNo,
        customId,
        body,
        controller,
        lease,
      );
      if (result) this.deps.recorder.add(result);
    } catch (err) {
      this.logger.error(`line ${lineNo} of ${this.batch.id} failed unexpectedly: ${(err as Error).message}`);
    } finally {
      if (lease.held) this.deps.limiter.release(lease.replica);
      this.inflight.delete(controller);
      this.deps.onInflightChange();
    }
  }
}
