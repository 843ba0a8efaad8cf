import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A batch's enqueued-token reservation: `estimated_tokens` is set when validation admits the batch
 * (NULL = holds no reservation, e.g. still validating, or cancelled before it was admitted). The
 * partial index serves the per-(tenant, model) sum taken at every admission.
 */
export class EnqueuedTokens1764190000000 implements MigrationInterface {
  name = 'EnqueuedTokens1764190000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE batches ADD COLUMN estimated_tokens bigint NULL`);
    await q.query(
      `CREATE INDEX idx_batches_tenant_model_unfinished ON batches (tenant_id, model) WHERE status IN ('validating','in_progress','finalizing','cancelling')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX idx_batches_tenant_model_unfinished`);
    await q.query(`ALTER TABLE batches DROP COLUMN estimated_tokens`);
  }
}
