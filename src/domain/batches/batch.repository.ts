import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { WebhookEventsRepository } from '../webhooks/webhook-events.repository';
import { NewWebhookEvent } from '../webhooks/webhook-event';
import { BatchStatus, TERMINAL_STATUSES, UNFINISHED_STATUSES } from './batch-status';
import { BatchEntity } from './batch.entity';

/**
 * `status IN (...)` over the unfinished statuses, spelled exactly as the partial indexes'
 * predicate (idx_batches_unfinished, idx_batches_tenant_model_unfinished) so the planner can use them.
 */
export const UNFINISHED_IN = `(${UNFINISHED_STATUSES.map((s) => `'${s}'`).join(',')})`;
export const TERMINAL_IN = `(${TERMINAL_STATUSES.map((s) => `'${s}'`).join(',')})`;

/** Where a page of a tenant's batches starts: after this batch, newest first. */
export interface BatchCursor {
  createdAt: Date;
  id: string;
}

/** Every statement on batch rows (the per-tenant limits' locked checks are in BatchLimitsRepository). */
@Injectable()
export class BatchRepository {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly webhookEvents: WebhookEventsRepository,
  ) {}

  find(id: string, m: EntityManager = this.db.manager): Promise<BatchEntity | null> {
    return m.findOneBy(BatchEntity, { id });
  }

  /** The batch, which must exist (read back after a transition moved it). */
  get(id: string, m: EntityManager = this.db.manager): Promise<BatchEntity> {
    return m.findOneByOrFail(BatchEntity, { id });
  }

  findForTenant(tenantId: string, id: string): Promise<BatchEntity | null> {
    return this.db.manager.findOneBy(BatchEntity, { id, tenantId });
  }

  async insert(batch: BatchEntity, m: EntityManager = this.db.manager): Promise<void> {
    await m.insert(BatchEntity, batch);
  }

  /** Up to `limit` of the tenant's batches, newest first, after `after` when given. */
  listForTenant(tenantId: string, limit: number, after: BatchCursor | null): Promise<BatchEntity[]> {
    const qb = this.db.manager
      .createQueryBuilder(BatchEntity, 'b')
      .where('b.tenant_id = :tenantId', { tenantId });
    if (after)
      qb.andWhere('(b.created_at, b.id) < (:createdAt, :id)', { createdAt: after.createdAt, id: after.id });
    return qb.orderBy('b.created_at', 'DESC').addOrderBy('b.id', 'DESC').limit(limit).getMany();
  }

  /**
   * Applies `set` to the batch only while its status is one of `from`: one conditional UPDATE, so of
   * two racing transitions exactly one moves the row. With `event`, the same statement writes it to
   * the webhook outbox for the row it moved (none when it moved nothing). Returns whether it moved.
   */
  async moveIf(
    id: string,
    from: readonly BatchStatus[],
    set: Partial<BatchEntity>,
    event: NewWebhookEvent | null,
    m: EntityManager = this.db.manager,
  ): Promise<boolean> {
    const update = m
      .createQueryBuilder()
      .update(BatchEntity)
      .set(set as never)
      .where('id = :id AND status IN (:...from)', { id, from });
    // Only terminal transitions make events, and those never run inside a caller's transaction
    // (BatchStateService.transitionIn refuses them), so the event's statement may take its own connection.
    if (event)
      return this.webhookEvents.updateWithEvent(update.returning('id').getQueryAndParameters(), event);
    return Boolean((await update.execute()).affected);
  }

  /** Ids of every unfinished batch, oldest first. */
  async unfinishedIds(): Promise<string[]> {
    const rows: { id: string }[] = await this.db.query(
      `SELECT id FROM batches WHERE status IN ${UNFINISHED_IN} ORDER BY created_at`,
    );
    return rows.map((r) => r.id);
  }

  /** Batches per status, and of those how many expire within `withinSeconds`: one scan. */
  async countByStatus(withinSeconds: number): Promise<{ status: string; count: number; expiring: number }[]> {
    const rows = await this.db.query<{ status: string; count: string; expiring: string }[]>(
      `SELECT status, count(*) AS count,
              count(*) FILTER (WHERE expires_at < now() + make_interval(secs => $1)) AS expiring
         FROM batches GROUP BY status`,
      [withinSeconds],
    );
    return rows.map((r) => ({ status: r.status, count: Number(r.count), expiring: Number(r.expiring) }));
  }
}
