import type { JobsOptions } from 'bullmq';

/** Queue and job names, payloads and job options: the typed contract between API and worker. */
export const BATCH_QUEUE = 'batches';
export const WEBHOOK_QUEUE = 'webhooks';

export const JOB_PROCESS_BATCH = 'process-batch';
export const JOB_DELIVER_WEBHOOK = 'deliver-webhook';

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

export interface DeliverWebhookPayload {
  eventId: string;
  /** 1-based: which attempt of the event's retry schedule this job makes. */
  attempt: number;
}

/** One job per attempt of an event, so the sweep and the post-commit enqueue can both add it. */
export const webhookJobId = (eventId: string, attempt: number): string => `${eventId}-${attempt}`;

/**
 * The retry schedule is the outbox's (WEBHOOK_RETRY_SCHEDULE), not BullMQ's: each attempt is a job
 * of its own, run once. Finished attempts stay on the board a while (a failed attempt shows as a
 * failed job with the receiver's answer), bounded so a dead receiver cannot fill Redis.
 */
export function webhookJobOptions(eventId: string, attempt: number, delayMs: number): JobsOptions {
  return {
    jobId: webhookJobId(eventId, attempt),
    delay: Math.max(0, delayMs),
    attempts: 1,
    removeOnComplete: { age: 86_400, count: 1000 },
    removeOnFail: { age: 7 * 86_400, count: 5000 },
  };
}
