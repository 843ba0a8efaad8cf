import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { UNFINISHED_IN } from './batch.repository';

/**
 * Advisory-lock namespaces (first key of the two-key form; the migration lock uses the one-key
 * form, a separate key space). The second key hashes the tenant, or tenant and model.
 */
const ACTIVE_BATCHES_LOCK = 7351002;
const TOKEN_BUDGET_LOCK = 7351003;

export type Admission<T> = { admitted: true; value: T } | { admitted: false; current: number };

/**
 * The SQL behind the per-tenant limits. Each check and the write it guards run in one transaction
 * under a transaction-scoped advisory lock, so two API replicas (or two workers) deciding at once
 * take turns: the second one's count already includes the first one's committed row. The locks
 * are released by COMMIT/ROLLBACK, so a crashed process cannot leave one behind, and they work
 * behind PgBouncer in transaction pooling.
 */
@Injectable()
export class BatchLimitsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Runs `insert` when the tenant has fewer than `max` unfinished batches; otherwise reports how
   * many it has. The count includes `validating` batches: they hold a worker and a queue slot.
   * `max` 0 = unlimited: no lock, no count.
   */
  async admitCreate<T>(
    tenantId: string,
    max: number,
    insert: (m: EntityManager) => Promise<T>,
  ): Promise<Admission<T>> {
    const limit = { lock: ACTIVE_BATCHES_LOCK, key: tenantId, max, need: 1 };
    return this.admit(limit, insert, async (m) => {
      const [{ n }] = (await m.query(
        `SELECT count(*)::int AS n FROM batches WHERE tenant_id = $1 AND status IN ${UNFINISHED_IN}`,
        [tenantId],
      )) as Array<{ n: number }>;
      return n;
    });
  }

  /**
   * Runs `reserve` (which records `estimate` on the batch and admits it) when the tokens reserved by
   * the tenant's other unfinished batches for `model`, plus `estimate`, stay within `limit`;
   * otherwise reports the tokens already reserved. A batch holds a reservation from admission
   * (estimated_tokens set) until it reaches a terminal status, which is what frees the budget.
   * `limit` 0 = unlimited: the estimate is still recorded, without lock or sum.
   */
  async reserveTokens<T>(
    batch: { id: string; tenantId: string },
    model: string,
    estimate: number,
    limit: number,
    reserve: (m: EntityManager) => Promise<T>,
  ): Promise<Admission<T>> {
    // tenant names hold no '/', so tenant/model is unambiguous.
    const budget = { lock: TOKEN_BUDGET_LOCK, key: `${batch.tenantId}/${model}`, max: limit, need: estimate };
    return this.admit(budget, reserve, async (m) => {
      // A fresh statement under READ COMMITTED: it sees every reservation committed before the lock.
      const [{ reserved }] = (await m.query(
        `SELECT COALESCE(SUM(estimated_tokens), 0)::text AS reserved FROM batches
          WHERE tenant_id = $1 AND model = $2 AND id <> $3 AND status IN ${UNFINISHED_IN}
            AND estimated_tokens IS NOT NULL`,
        [batch.tenantId, model, batch.id],
      )) as Array<{ reserved: string }>;
      return Number(reserved);
    });
  }

  /**
   * Runs `write` when `need` more fits within `max` beside what `used` reads, both in one
   * transaction under the advisory lock (`lock`, hash of `key`); otherwise reports the use.
   * `max` 0 = unlimited: `write` runs at once, without lock or read.
   */
  private async admit<T>(
    limit: { lock: number; key: string; max: number; need: number },
    write: (m: EntityManager) => Promise<T>,
    used: (m: EntityManager) => Promise<number>,
  ): Promise<Admission<T>> {
    if (limit.max === 0) return { admitted: true, value: await write(this.db.manager) };
    return this.db.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [limit.lock, limit.key]);
      const current = await used(m);
      if (current + limit.need > limit.max) return { admitted: false, current };
      return { admitted: true, value: await write(m) };
    });
  }
}
