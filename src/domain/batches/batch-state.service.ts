import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { BATCH_METRICS } from './batch.metrics';
import { WebhookEventsRepository } from '../webhooks/webhook-events.repository';
import { WebhookOutbox } from '../webhooks/webhook-outbox.service';
import { BatchEntity, BatchStatus, TERMINAL_STATUSES } from './batch.entity';

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

/**
 * The only place batch status changes. Each transition is one conditional UPDATE (`WHERE status IN
 * from`), so an API cancel racing a worker's finalize cannot both win, and a resumed worker cannot
 * move a batch backwards. A terminal transition of a tenant with a webhook writes its event to the
 * outbox in that same statement: exactly one event per batch that ends, none for a lost race.
 */
@Injectable()
export class BatchStateService {
  constructor(
    @InjectRepository(BatchEntity) private readonly batches: Repository<BatchEntity>,
    private readonly metrics: MetricsService,
    private readonly outbox: WebhookOutbox,
    private readonly webhookEvents: WebhookEventsRepository,
  ) {}

  transition(
    id: string,
    from: readonly BatchStatus[],
    to: BatchStatus,
    changes: Partial<BatchEntity> = {},
  ): Promise<BatchEntity | null> {
    return this.apply(this.batches.manager, id, from, to, changes);
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
    m: EntityManager,
    id: string,
    from: readonly BatchStatus[],
    to: BatchStatus,
    changes: Partial<BatchEntity>,
  ): Promise<BatchEntity | null> {
    const stamp = STAMP[to];
    const now = new Date();
    const set: Partial<BatchEntity> = { ...changes, status: to };
    if (stamp) (set as Record<string, unknown>)[stamp] = now;
    const before = await m.findOneBy(BatchEntity, { id });
    if (!before || !from.includes(before.status)) return null;
    const update = m
      .createQueryBuilder()
      .update(BatchEntity)
      .set(set as never)
      .where('id = :id AND status IN (:...from)', { id, from });
    // Only terminal transitions make events, and those never run inside a caller's transaction
    // (transitionIn refuses them), so the event's own statement may take its own connection.
    const event = this.outbox.eventFor(before.tenantId, id, to, now);
    const moved = event
      ? await this.webhookEvents.updateWithEvent(update.returning('id').getQueryAndParameters(), event)
      : Boolean((await update.execute()).affected);
    if (!moved) return null;
    this.metrics.of(BATCH_METRICS).transition(before.status, to);
    if (event) this.outbox.announce(event);
    return m.findOneByOrFail(BatchEntity, { id });
  }

  find(id: string): Promise<BatchEntity | null> {
    return this.batches.findOneBy({ id });
  }
}
