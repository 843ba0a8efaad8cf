import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { NewWebhookEvent, WebhookEventRow } from './webhook-event';

/** Every SQL statement on the webhook outbox (webhook_events). */
@Injectable()
export class WebhookEventsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Runs `update` (an UPDATE … RETURNING of exactly the row a transition moves) and, in the same
   * statement, writes `event` for each row it moved: a transition that loses its race (no row) writes
   * no event, and no crash can leave a transition without its event or an event without its
   * transition. Returns whether the row moved.
   */
  async updateWithEvent(update: [string, unknown[]], event: NewWebhookEvent): Promise<boolean> {
    const [sql, params] = update;
    const n = params.length;
    const rows: unknown[] = await this.db.query(
      `WITH moved AS (${sql})
       INSERT INTO webhook_events (id, tenant_id, batch_id, type, payload, created_at, next_attempt_at)
       SELECT $${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6}, $${n + 7} FROM moved
       RETURNING id`,
      [
        ...params,
        event.id,
        event.tenantId,
        event.batchId,
        event.type,
        event.payload,
        event.createdAt,
        event.firstAttemptAt,
      ],
    );
    return rows.length > 0;
  }

  async find(id: string): Promise<WebhookEventRow | null> {
    const rows: WebhookEventRow[] = await this.db.query(
      `SELECT id, tenant_id AS "tenantId", batch_id AS "batchId", type, payload, status, attempts
         FROM webhook_events WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  /**
   * Records the outcome of attempt `attempt`. Conditional on the row still waiting for exactly that
   * attempt, so a stale or duplicated job cannot rewrite an event's history; returns whether it did.
   */
  async recordAttempt(
    id: string,
    attempt: number,
    outcome: { delivered: true } | { delivered: false; error: string; retryInSeconds: number | null },
  ): Promise<boolean> {
    const guard = `WHERE id = $1 AND status = 'pending' AND attempts = $2 - 1`;
    let rows: unknown[];
    if (outcome.delivered) {
      rows = await this.db.query(
        `UPDATE webhook_events SET status = 'delivered', attempts = $2, delivered_at = now(), last_error = NULL
         ${guard} RETURNING id`,
        [id, attempt],
      );
    } else if (outcome.retryInSeconds === null) {
      rows = await this.db.query(
        `UPDATE webhook_events SET status = 'dropped', attempts = $2, last_error = $3 ${guard} RETURNING id`,
        [id, attempt, outcome.error],
      );
    } else {
      rows = await this.db.query(
        `UPDATE webhook_events
            SET attempts = $2, last_error = $3, next_attempt_at = now() + make_interval(secs => $4)
          ${guard} RETURNING id`,
        [id, attempt, outcome.error, outcome.retryInSeconds],
      );
    }
    return rows.length > 0;
  }

  /** Pending events whose next attempt is due, oldest first. */
  async due(limit: number): Promise<Array<{ id: string; attempts: number }>> {
    return this.db.query(
      `SELECT id, attempts FROM webhook_events
        WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY next_attempt_at LIMIT $1`,
      [limit],
    );
  }

  async countPending(): Promise<number> {
    const rows: Array<{ count: string }> = await this.db.query(
      `SELECT count(*) AS count FROM webhook_events WHERE status = 'pending'`,
    );
    return Number(rows[0]?.count ?? 0);
  }
}
