/**
 * Following a batch to its end: polls it, shows a live bar on a terminal (a line per change
 * otherwise), and stops at a terminal status or at Ctrl-C, which only detaches: the batch keeps
 * running on the service.
 */
import { SingleBar } from 'cli-progress';
import OpenAI from 'openai';
import { CliContext } from './context';
import { describeApiError } from './errors';
import { Batch, formatCount, formatSeconds, isTerminal } from './format';

export type WatchEnd = { batch: Batch; detached: false } | { batch: Batch; detached: true };

/** Polls failing in a row (after the SDK's own retries) before the watch gives up. */
const MAX_FAILED_POLLS = 5;
/** Without a terminal, a progress line at most this often (status changes are printed at once). */
const PLAIN_PROGRESS_EVERY_MS = 10_000;

/** Lines per second over the last minute of observations, and the time the rest takes at that pace. */
class Pace {
  private readonly seen: Array<{ t: number; done: number }> = [];

  add(t: number, done: number): void {
    this.seen.push({ t, done });
    while (this.seen.length > 2 && t - this.seen[0].t > 60_000) this.seen.shift();
  }

  rate(): number {
    if (this.seen.length < 2) return 0;
    const first = this.seen[0];
    const last = this.seen[this.seen.length - 1];
    return last.t > first.t ? ((last.done - first.done) * 1000) / (last.t - first.t) : 0;
  }

  etaSeconds(remaining: number): number {
    const r = this.rate();
    return r > 0 ? remaining / r : Number.NaN;
  }
}

export async function watchBatch(
  ctx: CliContext,
  initial: Batch,
  intervalMs: number,
  signal: AbortSignal,
): Promise<WatchEnd> {
  let batch = initial;
  const pace = new Pace();
  const view = ctx.interactive ? new BarView(ctx) : new PlainView(ctx);
  view.show(batch, pace);
  let failures = 0;
  try {
    while (!isTerminal(batch)) {
      if (!(await sleep(intervalMs, signal))) return { batch, detached: true };
      try {
        batch = await retrieve(ctx, batch.id, signal);
        failures = 0;
      } catch (err) {
        if (signal.aborted) return { batch, detached: true };
        if (!transient(err) || ++failures >= MAX_FAILED_POLLS) throw err;
        view.warn(`${describeApiError(err, ctx.baseUrl)?.message ?? String(err)} (retrying)`);
        continue;
      }
      const c = batch.request_counts;
      if (c) pace.add(Date.now(), c.completed + c.failed);
      view.show(batch, pace);
    }
    return { batch, detached: false };
  } finally {
    view.stop();
  }
}

/**
 * One poll, cancelled by `signal`. The SDK listens on the signal it is given and never lets go, so
 * each poll gets a signal of its own: hours of polls on the command's signal would pile up listeners.
 */
async function retrieve(ctx: CliContext, id: string, signal: AbortSignal): Promise<Batch> {
  const poll = new AbortController();
  const abort = () => poll.abort();
  signal.addEventListener('abort', abort);
  try {
    return await ctx.client.batches.retrieve(id, { signal: poll.signal });
  } finally {
    signal.removeEventListener('abort', abort);
  }
}

/** A connection that dropped, or an answer worth asking again (the service restarting, rate limits). */
function transient(err: unknown): boolean {
  if (err instanceof OpenAI.APIConnectionError) return true;
  return err instanceof OpenAI.APIError && (err.status === 429 || (err.status ?? 0) >= 500);
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener('abort', onAbort);
  });
}

interface View {
  show(batch: Batch, pace: Pace): void;
  warn(message: string): void;
  stop(): void;
}

/** The live bar on a terminal: done/total, failed, rate and ETA, redrawn in place. */
class BarView implements View {
  private readonly bar: SingleBar;
  private started = false;

  constructor(private readonly ctx: CliContext) {
    this.bar = new SingleBar({
      stream: ctx.io.stderr as NodeJS.WritableStream,
      format: '{status} {bar} {value}/{total} done | {failed} failed | {rate}/s | ETA {left}',
      hideCursor: true,
      barsize: 30,
      // Redrawn on each poll, not on a timer of its own.
      fps: 5,
      noTTYOutput: false,
    });
  }

  show(batch: Batch, pace: Pace): void {
    const c = batch.request_counts ?? { total: 0, completed: 0, failed: 0 };
    const done = c.completed + c.failed;
    const payload = {
      status: batch.status.padEnd(11),
      failed: formatCount(c.failed),
      rate: pace.rate().toFixed(1),
      // Not `eta`: cli-progress fills that token itself, from its own (per-redraw) estimate.
      left: done >= c.total && c.total > 0 ? '0s' : formatSeconds(pace.etaSeconds(c.total - done)),
    };
    if (!this.started) {
      this.ctx.io.stderr.write(`Watching ${batch.id} (Ctrl-C detaches; the batch keeps running)\n`);
      this.bar.start(Math.max(c.total, 1), done, payload);
      this.started = true;
    } else {
      this.bar.setTotal(Math.max(c.total, 1));
      this.bar.update(done, payload);
    }
  }

  warn(message: string): void {
    this.bar.stop();
    this.ctx.io.stderr.write(`${message}\n`);
    this.started = false;
  }

  stop(): void {
    if (this.started) this.bar.stop();
    this.started = false;
  }
}

/** Into a pipe or a log: a line when the status changes, and the counts now and then. */
class PlainView implements View {
  private lastStatus = '';
  private lastPrinted = 0;
  private lastDone = -1;

  constructor(private readonly ctx: CliContext) {}

  show(batch: Batch, pace: Pace): void {
    const c = batch.request_counts ?? { total: 0, completed: 0, failed: 0 };
    const done = c.completed + c.failed;
    const now = Date.now();
    if (this.lastStatus === '') {
      this.ctx.note(`Watching ${batch.id} (Ctrl-C detaches; the batch keeps running)`);
    }
    const changed = batch.status !== this.lastStatus;
    const due = done !== this.lastDone && now - this.lastPrinted >= PLAIN_PROGRESS_EVERY_MS;
    if (!changed && !due) return;
    this.lastStatus = batch.status;
    this.lastDone = done;
    this.lastPrinted = now;
    const rate = pace.rate();
    const tail =
      rate > 0 ? `, ${rate.toFixed(1)}/s, ETA ${formatSeconds(pace.etaSeconds(c.total - done))}` : '';
    this.ctx.note(
      `  ${batch.status}: ${formatCount(done)}/${formatCount(c.total)} done, ${formatCount(c.failed)} failed${tail}`,
    );
  }

  warn(message: string): void {
    this.ctx.note(`  ${message}`);
  }

  stop(): void {}
}
