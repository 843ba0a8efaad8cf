/** A batch's status, as OpenAI names them, and the sets of them the rules and queries use. */
export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

export const ALL_STATUSES: readonly BatchStatus[] = [
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
];

export const TERMINAL_STATUSES: readonly BatchStatus[] = ['failed', 'completed', 'expired', 'cancelled'];

/**
 * Statuses of a batch that still holds something: a worker and a queue slot, its input file, its
 * tenant's active-batch and token budgets. The reconciler re-enqueues exactly these.
 */
export const UNFINISHED_STATUSES: readonly BatchStatus[] = [
  'validating',
  'in_progress',
  'finalizing',
  'cancelling',
];
