import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `line_rows_cleared_at` marks a finished batch whose per-line rows are deleted (its files are gone).
 * The maintenance pass looks for batches to clear through the partial index, which holds only
 * finished batches not cleared yet, instead of testing every finished batch ever made on each pass.
 * Batches finished before this migration are in the index once and leave it on the next pass that
 * finds their files gone.
 */
export class LineRowsCleared1768300000000 implements MigrationInterface {
  name = 'LineRowsCleared1768300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE batches ADD COLUMN line_rows_cleared_at timestamptz NULL`);
    await q.query(
      `CREATE INDEX idx_batches_line_rows_kept ON batches (id) WHERE line_rows_cleared_at IS NULL AND status IN ('failed','completed','expired','cancelled')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX idx_batches_line_rows_kept`);
    await q.query(`ALTER TABLE batches DROP COLUMN line_rows_cleared_at`);
  }
}
