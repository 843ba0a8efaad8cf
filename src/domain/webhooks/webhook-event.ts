/** OpenAI's batch event types (one per terminal batch status: domain/batches says which). */
export type WebhookEventType = 'batch.completed' | 'batch.failed' | 'batch.cancelled' | 'batch.expired';

export type WebhookEventStatus = 'pending' | 'delivered' | 'dropped';

/** An event about to be written to the outbox with its transition. */
export interface NewWebhookEvent {
  id: string;
  tenantId: string;
  batchId: string;
  type: WebhookEventType;
  createdAt: Date;
  /** The exact body every attempt sends (and signs). */
  payload: string;
  /** When the first attempt is due (WEBHOOK_RETRY_SCHEDULE's first entry after the event). */
  firstAttemptAt: Date;
}

/** An outbox row as the delivery reads it. */
export interface WebhookEventRow {
  id: string;
  tenantId: string;
  batchId: string;
  type: WebhookEventType;
  payload: string;
  status: WebhookEventStatus;
  attempts: number;
}

/**
 * OpenAI's payload, keys in OpenAI's order: `{"id", "type", "created_at", "data": {"id"}, "object"}`.
 * `created_at` is when the batch reached the status (unix seconds), as in OpenAI's events.
 */
export function webhookPayload(id: string, type: WebhookEventType, createdAt: Date, batchId: string): string {
  return JSON.stringify({
    id,
    type,
    created_at: Math.floor(createdAt.getTime() / 1000),
    data: { id: batchId },
    object: 'event',
  });
}
