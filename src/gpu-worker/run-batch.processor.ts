import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { BeforeApplicationShutdown, Inject, Logger, OnModuleInit } from '@nestjs/common';
import { Job } from 'bullmq';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { BATCH_QUEUE, ProcessBatchPayload } from '../queue/queue.constants';
import { BatchRunnerService } from './batch-runner.service';

/**
 * BullMQ consumer of batch jobs. A job holds a lock that the worker renews; if the process dies,
 * BullMQ's stalled check (every 5 s, lock 10 s) gives the job to another worker, which resumes
 * the batch from PostgreSQL.
 */
@Processor(BATCH_QUEUE, {
  lockDuration: 10_000,
  stalledInterval: 5_000,
  maxStalledCount: 1_000_000,
  autorun: true,
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
    await this.runner.process(job.data.batchId);
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job<ProcessBatchPayload> | undefined, err: Error): void {
    this.logger.warn(`batch job ${job?.data.batchId ?? '?'} will be retried: ${err.message}`);
  }

  /**
   * On SIGTERM: stop taking jobs, let in-flight upstream requests finish for the grace period, record
   * what finished, and hand the rest of each batch back to the queue for another (or the next) worker.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const closing = this.worker.close();
    this.runner.handBackAll(this.config.shutdownGraceMs);
    await closing;
  }
}
