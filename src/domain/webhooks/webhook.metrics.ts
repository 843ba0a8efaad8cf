import { Counter, Gauge } from 'prom-client';
import { defineMetrics, METRIC_PREFIX } from '../../platform/metrics/metrics';

/** What became of one webhook delivery attempt (see WebhookDeliveryProcessor). */
export const WEBHOOK_OUTCOMES = ['delivered', 'retried', 'dropped'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

/** Delivery attempts as they end, and the outbox backlog (set by WebhookBacklogCollector). */
export const WEBHOOK_METRICS = defineMetrics('webhooks', (registry) => {
  const registers = [registry];
  const deliveries = new Counter({
    name: `${METRIC_PREFIX}webhook_deliveries_total`,
    help: 'Webhook delivery attempts by outcome: delivered (2xx), retried (failed, another attempt scheduled), dropped (failed, no attempt left). Attempts postponed by an open circuit are not counted.',
    labelNames: ['outcome'] as const,
    registers,
  });
  const pending = new Gauge({
    name: `${METRIC_PREFIX}webhook_events_pending`,
    help: 'Webhook events in the outbox not yet delivered or dropped (background read like vllm_batch_batches; aggregate with max).',
    registers,
  });
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
