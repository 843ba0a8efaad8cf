import { defineMetrics } from '../../platform/metrics/metrics';
import { ALL_STATUSES, TERMINAL_STATUSES } from './batch-status';

/** "Expiring soon": an unfinished batch this close to its expires_at is at risk of expiring. */
export const EXPIRING_SOON_SECONDS = 3600;
/** Statuses a batch can still expire from (the others are final). */
const UNFINISHED_STATUSES = ALL_STATUSES.filter((s) => !TERMINAL_STATUSES.includes(s));

/**
 * The batches' metrics: transitions as they happen, and the backlog gauges set by
 * BatchStatusCollector from a read in the background, never on scrape: a scrape must not wait on
 * (or load) PostgreSQL.
 */
export const BATCH_METRICS = defineMetrics('batches', ({ counter, gauge }) => {
  const transitions = counter(
    'batch_transitions_total',
    'Batch status transitions; from="none" when a batch is created.',
    ['from', 'to'],
  );
  const byStatus = gauge(
    'batches',
    'Batches in the database by status (read from PostgreSQL every few seconds in the background; every replica reports the same totals, aggregate with max).',
    ['status'],
  );
  const expiringSoon = gauge(
    'batches_expiring_soon',
    `Unfinished batches whose expires_at is less than ${EXPIRING_SOON_SECONDS / 3600} h away, by status (background read like vllm_batch_batches; aggregate with max).`,
    ['status'],
  );
  return {
    /** A batch moved from one status to another; `from` is null when the batch was just created. */
    transition(from: string | null, to: string): void {
      transitions.inc({ from: from ?? 'none', to });
    },
    /** Batch counts by status from the background read; a status without batches is 0. */
    setCounts(counts: Record<string, number>): void {
      for (const status of ALL_STATUSES) byStatus.set({ status }, counts[status] ?? 0);
    },
    /** Unfinished batches near their expiry, by status, from the background read; none is 0. */
    setExpiringSoon(counts: Record<string, number>): void {
      for (const status of UNFINISHED_STATUSES) expiringSoon.set({ status }, counts[status] ?? 0);
    },
  };
});
