import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { WebhookEventType } from '../webhooks/webhook-event';
import { BATCH_METRICS } from './batch.metrics';
import { WebhookOutbox } from '../webhooks/webhook-outbox.service';
import { BatchStatus, TERMINAL_STATUSES } from './batch-status';
import { BatchEntity } from './batch.entity';
import { BatchRepository } from './batch.repository';

/** The timestamp column each status stamps when a batch enters it. */
const STAMP: Partial<Record<BatchStatus, keyof BatchEntity>> = {
  in_progress: 'inProgressAt',
  finalizing: 'finalizingAt',
  completed: 'completedAt',
  failed: 'failedAt',
  expired: 'expiredAt',
  cancelling: 'cancellingAt',
  cancelled: 'cancelledAt',
};

/** OpenAI's webhook event for each terminal status. */
const EVENT_TYPE: Partial<Record<BatchStatus, WebhookEventType>> = {
  completed: 'batch.completed',
  failed: 'batch.failed',
  cancelled: 'batch.cancelled',
  expired: 'batch.expired',
};

/**
 * The only place batch status changes. Each transition is one conditional UPDATE (`WHERE status IN
 * from`), so an API cancel racing a worker's finalize cannot both win, and a resumed worker cannot
 * move a batch backwards. A terminal transition of a tenant with a webhook writes its event to the
 * outbox in that same statement: exactly one event per batch that ends, none for a lost race.
 */
@Injectable()
export class BatchStateService {
  constructor(
    private readonly batches: BatchRepository,
    private readonly metrics: MetricsService,
    private readonly outbox: WebhookOutbox,
  ) {}

  transition(
    id: string,
    from: readonly BatchStatus[],
    to: BatchStatus,
    changes: Partial<BatchEntity> = {},
  ): Promise<BatchEntity | null> {
    return this.apply(undefined, id, from, to, changes);
  }

  /**
   * A non-terminal transition inside the caller's transaction, for a status change that must
   * commit together with the check that allowed it (admission under the token-budget lock).
   * Terminal transitions always go through `transition`, which owns what they trigger.
   */
  transitionIn(
    m: EntityManager,
    id: string,
    from: readonly BatchStatus[],
    to: BatchStatus,
    changes: Partial<BatchEntity> = {},
  ): Promise<BatchEntity | null> {
    if (TERMINAL_STATUSES.includes(to)) throw new Error(`transitionIn cannot enter terminal status ${to}`);
    return this.apply(m, id, from, to, changes);
  }

  private async apply(
    m: EntityManager | undefined,
    id: string,
    from: readonly BatchStatus[],
    to: BatchStatus,
    changes: Partial<BatchEntity>,
  ): Promise<BatchEntity | null> {
    const stamp = STAMP[to];
    const now = new Date();
    const set: Partial<BatchEntity> = { ...changes, status: to };
    if (stamp) (set as Record<string, unknown>)[stamp] = now;
    const before = await this.batches.find(id, m);
    if (!before || !from.includes(before.status)) return null;
    const type = EVENT_TYPE[to];
    const event = type ? await this.outbox.eventFor(before.tenantId, id, type, now) : null;
    if (!(await this.batches.moveIf(id, from, set, event, m))) return null;
    this.metrics.of(BATCH_METRICS).transition(before.status, to);
    if (event) this.outbox.announce(event);
    return this.batches.get(id, m);
  }

  find(id: string): Promise<BatchEntity | null> {
    return this.batches.find(id);
  }
}
