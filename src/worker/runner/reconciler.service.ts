import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Queue } from 'bullmq';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { BatchRepository } from '../../domain/batches/batch.repository';
import { BatchResultRepository } from '../../domain/batches/batch-result.repository';
import { FilesService } from '../../domain/files/files.service';
import { BatchQueueProducer } from '../../platform/queue/batch-queue.producer';
import { BATCH_QUEUE } from '../../platform/queue/queue.constants';
import { WebhookOutbox } from '../../domain/webhooks/webhook-outbox.service';

/**
 * PostgreSQL is the source of truth; the queue is rebuilt from it. At start and then periodically,
 * every unfinished batch without a job (Redis lost its data, an enqueue failed, a job ran out of
 * attempts) gets one again, so no batch stays stuck in `validating`, `in_progress`, `finalizing` or
 * `cancelling`. Due webhook events without a job get one the same way (WebhookOutbox.sweep).
 *
 * The period is a timer in every worker process, not a BullMQ job scheduler: the scheduler lived in
 * Redis, so a Redis restart (no persistence) erased the very thing meant to rebuild the queue, and
 * batches whose jobs were lost stayed stuck until some worker restarted. Re-enqueueing is idempotent
 * (job id = batch id), so several workers reconciling at once is harmless.
 */
@Injectable()
export class ReconcilerService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Reconciler');
  private ticking = false;

  constructor(
    private readonly batches: BatchRepository,
    private readonly results: BatchResultRepository,
    @InjectQueue(BATCH_QUEUE) private readonly batchQueue: Queue,
    private readonly producer: BatchQueueProducer,
    private readonly files: FilesService,
    private readonly webhooks: WebhookOutbox,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly scheduler: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    // Not awaited: a worker must come up (and serve /health) even while Redis or PostgreSQL is away.
    void this.tick();
    // The period comes from config, so the interval is added here rather than by a decorator.
    const every = setInterval(() => void this.tick(), this.config.worker.reconcileIntervalMs);
    this.scheduler.addInterval('reconcile', every);
  }

  /** One maintenance pass; skipped while the previous one still waits (e.g. on an unreachable Redis). */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.process();
    } catch (err) {
      this.logger.warn(`maintenance pass failed, will retry: ${(err as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }

  async process(): Promise<void> {
    await this.reconcile();
    await this.webhooks.sweep();
    const purged = await this.files.purgeExpired();
    if (purged > 0) this.logger.log(`removed ${purged} expired file(s)`);
    const cleared = await this.results.deleteForGoneFiles();
    if (cleared > 0)
      this.logger.log(`removed the per-line rows of ${cleared} batch(es) whose files are gone`);
  }

  async reconcile(): Promise<number> {
    let requeued = 0;
    for (const id of await this.batches.unfinishedIds()) {
      const job = await this.batchQueue.getJob(id);
      if (!job) {
        await this.producer.enqueue(id);
        requeued++;
      }
    }
    if (requeued > 0) this.logger.log(`re-enqueued ${requeued} unfinished batch(es) that had no job`);
    return requeued;
  }
}
