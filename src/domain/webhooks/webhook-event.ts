import type { BatchStatus } from '../batches/batch.entity';

/** OpenAI's batch event types, one per terminal status. */
export const WEBHOOK_EVENT_TYPES = {
  completed: 'batch.completed',
  failed: 'batch.failed',
  cancelled: 'batch.cancelled',
  expired: 'batch.expired',
} as const satisfies Partial<Record<BatchStatus, string>>;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[keyof typeof WEBHOOK_EVENT_TYPES];

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

/** The event type of a transition into `status`, or null when the status is not terminal. */
export function webhookEventType(status: BatchStatus): WebhookEventType | null {
  return (WEBHOOK_EVENT_TYPES as Partial<Record<BatchStatus, WebhookEventType>>)[status] ?? null;
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
