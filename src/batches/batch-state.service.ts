import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { MetricsService } from '../metrics/metrics.service';
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
 * move a batch backwards.
 */
@Injectable()
export class BatchStateService {
  constructor(
    @InjectRepository(BatchEntity) private readonly batches: Repository<BatchEntity>,
    private readonly metrics: MetricsService,
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
    const set: Partial<BatchEntity> = { ...changes, status: to };
    if (stamp) (set as Record<string, unknown>)[stamp] = new Date();
    const before = await m.findOneBy(BatchEntity, { id });
    if (!before || !from.includes(before.status)) return null;
    const result = await m
      .createQueryBuilder()
      .update(BatchEntity)
      .set(set as never)
      .where('id = :id AND status IN (:...from)', { id, from })
      .execute();
    if (!result.affected) return null;
    this.metrics.batchTransition(before.status, to);
    return m.findOneByOrFail(BatchEntity, { id });
  }

  find(id: string): Promise<BatchEntity | null> {
    return this.batches.findOneBy({ id });
  }
}
