import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { BeforeApplicationShutdown, Inject, Logger, OnModuleInit } from '@nestjs/common';
import { Job } from 'bullmq';
import { rateLimitedWarning } from '../../common/rate-limited-warning';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { BATCH_QUEUE, ProcessBatchPayload } from '../../platform/queue/queue.constants';
import { BatchRunnerService, HandedBack } from './batch-runner.service';
import { settled } from '../../platform/queue/settle-connections-on-shutdown';

/**
 * How fast a dead worker's batch moves to a live worker. A job holds a lock the worker renews every
 * 1-2 s; a killed worker stops renewing it. BullMQ's stalled check (run every STALLED_INTERVAL_MS by
 * any live worker, two passes: mark, then move once the lock is gone) hands the job back to the
 * queue at most about LOCK_DURATION_MS + STALLED_INTERVAL_MS (≈5 s) after the crash, and another
 * worker resumes it from PostgreSQL: well within the 10 s a crash may cost, with room for a loaded
 * machine. A false stall, a live worker not renewing for 4 s, costs duplicate upstream work but no
 * duplicate result: results are recorded exactly once. The check is one small Lua script per second per queue.
 */
export const LOCK_DURATION_MS = 4_000;
export const STALLED_INTERVAL_MS = 1_000;
const MAX_JOB_BACKOFF_MS = 30_000;
/** How often a running job's progress (lines done / total) is refreshed for the board. */
const PROGRESS_EVERY_MS = 2000;

/**
 * When a failed batch job runs again. A job handed back on shutdown is ready at once for another
 * worker. Anything else (PostgreSQL or storage unreachable) backs off exponentially, capped at 30 s:
 * BullMQ's plain exponential backoff has no cap, and after a dozen failures during a long outage (or
 * a dozen rolling restarts, each a hand-back) a batch would have waited hours for its next try.
 */
export function batchJobBackoff(attemptsMade: number, _type?: string, err?: Error): number {
  if (err instanceof HandedBack) return 0;
  return Math.min(MAX_JOB_BACKOFF_MS, 1000 * 2 ** Math.max(0, attemptsMade - 1));
}

@Processor(BATCH_QUEUE, {
  lockDuration: LOCK_DURATION_MS,
  stalledInterval: STALLED_INTERVAL_MS,
  maxStalledCount: 1_000_000,
  autorun: true,
  settings: { backoffStrategy: batchJobBackoff },
})
export class RunBatchProcessor extends WorkerHost implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('RunBatchProcessor');

  constructor(
    private readonly runner: BatchRunnerService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onModuleInit(): void {
    // Several batches run at once in one worker; they share the upstream in-flight limit fairly.
    this.worker.concurrency = this.config.worker.batchConcurrency;
  }

  async process(job: Job<ProcessBatchPayload>): Promise<void> {
    const report = (): Promise<void> =>
      this.runner
        .progress(job.data.batchId)
        .then((p) => (p ? job.updateProgress(p) : undefined))
        .catch(() => undefined);
    const timer = setInterval(() => void report(), PROGRESS_EVERY_MS);
    try {
      await this.runner.process(job.data.batchId);
    } finally {
      clearInterval(timer);
      await report();
    }
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<ProcessBatchPayload> | undefined, err: Error): void {
    this.logger.warn(`batch job ${job?.data.batchId ?? '?'} will be retried: ${err.message}`);
  }

  private readonly warnQueueError = rateLimitedWarning(this.logger, 10_000);

  /**
   * Redis unreachable, a lock lost to a Redis restart: BullMQ keeps going (reconnects; the reconciler
   * re-enqueues lost jobs). Without a listener it printed each error as a multi-line stack trace on
   * stderr, outside the JSON log; now one warning per 10 s.
   */
  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.warnQueueError(`queue: ${err.message}`);
  }

  /**
   * On SIGTERM: stop taking jobs, let in-flight upstream requests finish for the grace period, record
   * what finished, and hand the rest of each batch back to the queue for another (or the next) worker.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await settled(this.worker);
    const closing = this.worker.close();
    this.runner.handBackAll(this.config.shutdownGraceMs);
    await closing;
  }
}
