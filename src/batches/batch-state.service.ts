import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { MetricsService } from '../metrics/metrics.service';
import { WebhookEventsRepository } from '../webhooks/webhook-events.repository';
import { WebhookOutbox } from '../webhooks/webhook-outbox.service';
import { BatchEntity, BatchStatus } from './batch.entity';

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

  async transition(
    id: string,
    from: readonly BatchStatus[],
    to: BatchStatus,
    changes: Partial<BatchEntity> = {},
  ): Promise<BatchEntity | null> {
    const stamp = STAMP[to];
    const now = new Date();
    const set: Partial<BatchEntity> = { ...changes, status: to };
    if (stamp) (set as Record<string, unknown>)[stamp] = now;
    const before = await this.batches.findOneBy({ id });
    if (!before || !from.includes(before.status)) return null;
    const update = this.batches
      .createQueryBuilder()
      .update(BatchEntity)
      .set(set as never)
      .where('id = :id AND status IN (:...from)', { id, from });
    const event = this.outbox.eventFor(before.tenantId, id, to, now);
    const moved = event
      ? await this.webhookEvents.updateWithEvent(update.returning('id').getQueryAndParameters(), event)
      : Boolean((await update.execute()).affected);
    if (!moved) return null;
    this.metrics.batchTransition(before.status, to);
    if (event) this.outbox.announce(event);
    return this.batches.findOneByOrFail({ id });
  }

  find(id: string): Promise<BatchEntity | null> {
    return this.batches.findOneBy({ id });
  }
}
