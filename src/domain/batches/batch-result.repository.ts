import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { storableText } from '../../common/pg-text';
import { BatchResult, BatchResultOutcome, BatchResultOutput } from './batch-result';
import { TERMINAL_IN } from './batch.repository';

/**
 * Rows per insert statement: 11 parameters each, under PostgreSQL's 65,535 parameters per statement
 * with room to spare, and large enough that a recorder's flush of 500 rows is one statement.
 */
const ROWS_PER_STATEMENT = 1000;

/** Every statement on per-line results (batch_requests). */
@Injectable()
export class BatchResultRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Records finished lines: each statement inserts up to ROWS_PER_STATEMENT rows (ON CONFLICT DO
   * NOTHING: a line finished twice, by a retry or a resumed worker, is kept once) and adds exactly
   * the inserted rows to the batch's counters and usage, so progress and results can never disagree.
   * A failure after some statements leaves those committed; recording the same rows again adds
   * only the rest.
   */
  async insert(batchId: string, rows: BatchResult[]): Promise<void> {
    for (let at = 0; at < rows.length; at += ROWS_PER_STATEMENT)
      await this.insertGroup(batchId, rows.slice(at, at + ROWS_PER_STATEMENT));
  }

  private async insertGroup(batchId: string, rows: BatchResult[]): Promise<void> {
    // One parameter per value rather than one array per column: the pg driver escapes every quote
    // of a text array's elements (answers are JSON, full of them), which cost the worker twice what
    // the plain parameters do; PostgreSQL pays about 2 ms more per 1,000 rows (bench/RESULTS.md).
    const values: unknown[] = [batchId];
    const tuples: string[] = [];
    for (const r of rows) {
      const p = values.length + 1;
      tuples.push(
        `($1,$${p},$${p + 1},$${p + 2},$${p + 3},$${p + 4},$${p + 5},$${p + 6},$${p + 7},$${p + 8},$${p + 9},$${p + 10})`,
      );
      // Upstream bodies and messages are not ours: one NUL in them would fail this whole statement
      // on every retry and stall the batch for good (custom_ids are refused at validation instead).
      values.push(
        r.lineNo,
        r.requestId,
        storableText(r.customId),
        r.outcome,
        r.statusCode,
        storableText(r.upstreamRequestId),
        storableText(r.body),
        r.errorCode,
        storableText(r.errorMessage),
        r.promptTokens,
        r.completionTokens,
      );
    }
    const n = values.length;
    values.push(
      rows.map((r) => r.lineNo),
      rows.map((r) => r.cachedTokens),
      rows.map((r) => r.reasoningTokens),
    );
    await this.db.query(
      `WITH ins AS (
         INSERT INTO batch_requests (batch_id, line_no, request_id, custom_id, outcome, status_code, upstream_request_id,
                                     body, error_code, error_message, prompt_tokens, completion_tokens)
         VALUES ${tuples.join(',')}
         ON CONFLICT (batch_id, line_no) DO NOTHING
         RETURNING line_no, outcome, prompt_tokens, completion_tokens
       ),
       extra AS (
         SELECT coalesce(sum(x.cached), 0) AS cached, coalesce(sum(x.reasoning), 0) AS reasoning
         FROM unnest($${n + 1}::int[], $${n + 2}::int[], $${n + 3}::int[]) AS x(line_no, cached, reasoning)
         JOIN ins USING (line_no)
       )
       UPDATE batches SET
         completed_requests = completed_requests + (SELECT count(*) FROM ins WHERE outcome = 'succeeded'),
         failed_requests = failed_requests + (SELECT count(*) FROM ins WHERE outcome = 'failed'),
         input_tokens = input_tokens + (SELECT coalesce(sum(prompt_tokens), 0) FROM ins),
         output_tokens = output_tokens + (SELECT coalesce(sum(completion_tokens), 0) FROM ins),
         cached_tokens = cached_tokens + (SELECT cached FROM extra),
         reasoning_tokens = reasoning_tokens + (SELECT reasoning FROM extra)
       WHERE id = $1`,
      values,
    );
  }

  /** Line numbers already recorded for a batch. */
  async recordedLines(batchId: string): Promise<Set<number>> {
    const rows: { line_no: number }[] = await this.db.query(
      'SELECT line_no FROM batch_requests WHERE batch_id = $1',
      [batchId],
    );
    return new Set(rows.map((r) => r.line_no));
  }

  async countByOutcome(batchId: string): Promise<Record<BatchResultOutcome, number>> {
    const rows: { outcome: string; n: string }[] = await this.db.query(
      'SELECT outcome, count(*) AS n FROM batch_requests WHERE batch_id = $1 GROUP BY outcome',
      [batchId],
    );
    const count = (o: BatchResultOutcome): number => Number(rows.find((r) => r.outcome === o)?.n ?? 0);
    return { succeeded: count('succeeded'), failed: count('failed') };
  }

  /** Up to `limit` results with `outcome` after line `afterLine`, in line order (one page of an output file). */
  page(
    batchId: string,
    outcome: BatchResultOutcome,
    afterLine: number,
    limit: number,
  ): Promise<Array<BatchResultOutput & Pick<BatchResult, 'lineNo'>>> {
    return this.db.query(
      `SELECT line_no AS "lineNo", request_id AS "requestId", custom_id AS "customId", status_code AS "statusCode",
              upstream_request_id AS "upstreamRequestId", body, error_code AS "errorCode", error_message AS "errorMessage"
         FROM batch_requests WHERE batch_id = $1 AND outcome = $2 AND line_no > $3 ORDER BY line_no LIMIT $4`,
      [batchId, outcome, afterLine, limit],
    );
  }

  /**
   * Once a batch is final its files hold the answers: the rows keep only what exactly once needs
   * (the key, the outcome, the token counts), so PostgreSQL does not hold every body twice.
   * Returns how many rows were trimmed.
   */
  async dropBodies(batchId: string): Promise<number> {
    const [, trimmed] = (await this.db.query(
      `UPDATE batch_requests SET body = NULL, error_message = NULL
        WHERE batch_id = $1 AND (body IS NOT NULL OR error_message IS NOT NULL)`,
      [batchId],
    )) as [unknown, number];
    return trimmed;
  }

  /**
   * Deletes the per-line rows of up to `limit` finished batches whose output and error files are
   * gone (expired or deleted): nothing can read or re-run them. The batch object, with its counts
   * and usage totals, stays, marked `line_rows_cleared_at` so later passes skip it (the partial
   * index idx_batches_line_rows_kept holds only the batches still to clear). SKIP LOCKED lets
   * several workers' passes share the work. Returns how many batches were cleared.
   */
  async deleteForGoneFiles(limit = 50): Promise<number> {
    const rows = await this.db.query<{ n: number }[]>(
      `WITH gone AS (
         SELECT b.id FROM batches b
          WHERE b.line_rows_cleared_at IS NULL AND b.status IN ${TERMINAL_IN}
            AND NOT EXISTS (SELECT 1 FROM files f WHERE f.id IN (b.output_file_id, b.error_file_id))
          LIMIT $1 FOR UPDATE OF b SKIP LOCKED),
       deleted AS (DELETE FROM batch_requests WHERE batch_id IN (SELECT id FROM gone) RETURNING batch_id),
       cleared AS (UPDATE batches SET line_rows_cleared_at = now() WHERE id IN (SELECT id FROM gone))
       SELECT count(DISTINCT batch_id)::int AS n FROM deleted`,
      [limit],
    );
    return rows[0].n;
  }
}
