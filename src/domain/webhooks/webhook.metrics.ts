import { defineMetrics } from '../../platform/metrics/metrics';

/** What became of one webhook delivery attempt (see WebhookDeliveryProcessor). */
export const WEBHOOK_OUTCOMES = ['delivered', 'retried', 'dropped'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

/** Delivery attempts as they end, and the outbox backlog (set by WebhookBacklogCollector). */
export const WEBHOOK_METRICS = defineMetrics('webhooks', ({ counter, gauge }) => {
  const deliveries = counter(
    'webhook_deliveries_total',
    'Webhook delivery attempts by outcome: delivered (2xx), retried (failed, another attempt scheduled), dropped (failed, no attempt left). Attempts postponed by an open circuit are not counted.',
    ['outcome'],
  );
  const pending = gauge(
    'webhook_events_pending',
    'Webhook events in the outbox not yet delivered or dropped (background read like vllm_batch_batches; aggregate with max).',
  );
  for (const outcome of WEBHOOK_OUTCOMES) deliveries.inc({ outcome }, 0);
  return {
    /** One webhook delivery attempt ended this way. */
    delivery(outcome: WebhookOutcome): void {
      deliveries.inc({ outcome });
    },
    /** Undelivered webhook events in the outbox, from the background read. */
    setPending(count: number): void {
      pending.set(count);
    },
  };
});
