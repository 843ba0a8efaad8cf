import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The webhook outbox: one row per terminal batch transition of a tenant with a webhook, written in
 * the same statement as the transition, so the event survives whatever happens to Redis or to the
 * worker afterwards. Delivery attempts are scheduled from here.
 */
export class WebhookEvents1766000000000 implements MigrationInterface {
  name = 'WebhookEvents1766000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhook_events (
        id varchar(64) PRIMARY KEY,
        tenant_id varchar(64) NOT NULL,
        batch_id varchar(64) NOT NULL,
        type varchar(32) NOT NULL,
        payload text NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL,
        last_error text NULL,
        created_at timestamptz NOT NULL,
        delivered_at timestamptz NULL,
        CONSTRAINT chk_webhook_events_status CHECK (status IN ('pending', 'delivered', 'dropped'))
      )`);
    // The sweep's scan: pending events whose next attempt is due.
    await q.query(
      `CREATE INDEX idx_webhook_events_due ON webhook_events (next_attempt_at) WHERE status = 'pending'`,
    );
    await q.query(`CREATE INDEX idx_webhook_events_batch ON webhook_events (batch_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_events`);
  }
}
