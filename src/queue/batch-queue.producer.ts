import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import {
  BATCH_QUEUE,
  JOB_PROCESS_BATCH,
  ProcessBatchPayload,
  processBatchJobOptions,
} from './queue.constants';

@Injectable()
export class BatchQueueProducer {
  constructor(@InjectQueue(BATCH_QUEUE) private readonly queue: Queue<ProcessBatchPayload>) {}

  /** Idempotent: a batch that already has a waiting or running job is not enqueued twice. */
  async enqueue(batchId: string): Promise<void> {
    await this.queue.add(JOB_PROCESS_BATCH, { batchId }, processBatchJobOptions(batchId));
  }
}
