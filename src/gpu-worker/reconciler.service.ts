import { InjectQueue, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { FilesService } from '../files/files.service';
import { BatchQueueProducer } from '../queue/batch-queue.producer';
import { BATCH_QUEUE, JOB_RECONCILE, MAINTENANCE_QUEUE } from '../queue/queue.constants';

/**
 * PostgreSQL is the source of truth; the queue is rebuilt from it. At start and then periodically,
 * every unfinished batch without a job (Redis lost its data, an enqueue failed, a job ran out of
 * attempts) gets one again, so no batch stays stuck in `validating`, `in_progress`, `finalizing` or
 * `cancelling`.
 */
@Processor(MAINTENANCE_QUEUE)
export class ReconcilerService extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger('Reconciler');

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @InjectQueue(BATCH_QUEUE) private readonly batchQueue: Queue,
    @InjectQueue(MAINTENANCE_QUEUE) private readonly maintenance: Queue,
    private readonly producer: BatchQueueProducer,
    private readonly files: FilesService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.maintenance.upsertJobScheduler(
      JOB_RECONCILE,
      { every: this.config.worker.reconcileIntervalMs },
      { name: JOB_RECONCILE },
    );
    await this.reconcile().catch((err) =>
      this.logger.warn(`initial reconcile failed: ${(err as Error).message}`),
    );
  }

  async process(): Promise<void> {
    await this.reconcile();
    const purged = await this.files.purgeExpired();
    if (purged > 0) this.logger.log(`removed ${purged} expired file(s)`);
  }

  async reconcile(): Promise<number> {
    const rows: { id: string }[] = await this.db.query(
      `SELECT id FROM batches WHERE status IN ('validating','in_progress','finalizing','cancelling') ORDER BY created_at`,
    );
    let requeued = 0;
    for (const { id } of rows) {
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
