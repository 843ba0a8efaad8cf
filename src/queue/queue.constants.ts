import type { JobsOptions } from 'bullmq';

/** Queue and job names, payloads and job options: the typed contract between API and worker. */
export const BATCH_QUEUE = 'batches';
export const MAINTENANCE_QUEUE = 'maintenance';

export const JOB_PROCESS_BATCH = 'process-batch';
export const JOB_RECONCILE = 'reconcile';

/** The custom backoff of batch jobs; see batchJobBackoff in run-batch.processor.ts. */
export const BATCH_JOB_BACKOFF = 'batch-capped';

export interface ProcessBatchPayload {
  batchId: string;
}

/**
 * One job per batch, its id the batch id, so enqueueing is idempotent (the reconciler can re-add
 * freely). Finished jobs are removed so the same id can be enqueued again to resume after a crash;
 * BullMQ's stalled-job check hands a dead worker's job to another worker.
 */
export function processBatchJobOptions(batchId: string): JobsOptions {
  return {
    jobId: batchId,
    attempts: 1000,
    // Computed by the worker (batchJobBackoff): capped, and none for a hand-back on shutdown.
    backoff: { type: BATCH_JOB_BACKOFF },
    removeOnComplete: true,
    removeOnFail: true,
  };
}
