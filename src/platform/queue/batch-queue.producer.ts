import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import { withTimeout } from '../../common/with-timeout';
import {
  BATCH_QUEUE,
  JOB_PROCESS_BATCH,
  ProcessBatchPayload,
  processBatchJobOptions,
} from './queue.constants';

/**
 * How long an enqueue may wait for Redis. The queue connection keeps commands while Redis is away
 * (BullMQ needs maxRetriesPerRequest: null), so without a bound a POST /v1/batches made during a
 * Redis outage hung until Redis came back. PostgreSQL already holds the batch; the reconciler
 * enqueues it if this add never lands (and if it lands late, the job id makes it a no-op).
 */
const ENQUEUE_TIMEOUT_MS = 2_000;

@Injectable()
export class BatchQueueProducer {
  constructor(@InjectQueue(BATCH_QUEUE) private readonly queue: Queue<ProcessBatchPayload>) {}

  /** Idempotent: a batch that already has a waiting or running job is not enqueued twice. */
  async enqueue(batchId: string): Promise<void> {
    await withTimeout(
      this.queue.add(JOB_PROCESS_BATCH, { batchId }, processBatchJobOptions(batchId)),
      ENQUEUE_TIMEOUT_MS,
      'enqueueing the batch job',
    );
  }
}
