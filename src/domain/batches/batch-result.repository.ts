import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { storableText } from '../../common/pg-text';
import { BatchResult, BatchResultOutcome, BatchResultOutput } from './batch-result';
import { TERMINAL_IN } from './batch.repository';

/** Every statement on per-line results (batch_requests). */
@Injectable()
export class BatchResultRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * One statement inserts the rows (ON CONFLICT DO NOTHING: a line finished twice, by a retry or a
   * resumed worker, is kept once) and adds exactly the inserted rows to the batch's counters and
   * usage, so progress and results can never disagree.
   */
  async insert(batchId: string, rows: BatchResult[]): Promise<void> {
    const col = <K extends keyof BatchResult>(k: K) => rows.map((r) => r[k]);
    // Upstream bodies and messages are not ours: one NUL in them would fail this whole statement on
    // every retry and stall the batch for good (custom_ids are refused at validation instead).
    const text = (k: 'customId' | 'upstreamRequestId' | 'body' | 'errorMessage') =>
      rows.map((r) => storableText(r[k]));
    await this.db.query(
      `WITH ins AS (
         INSERT INTO batch_requests (batch_id, line_no, request_id, custom_id, outcome, status_code, upstream_request_id,
                                     body, error_code, error_message, prompt_tokens, completion_tokens)
         SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[],
                                  $9::text[], $10::text[], $11::int[], $12::int[])
         ON CONFLICT (batch_id, line_no) DO NOTHING
         RETURNING line_no, outcome, prompt_tokens, completion_tokens
       ),
       extra AS (
         SELECT coalesce(sum(x.cached), 0) AS cached, coalesce(sum(x.reasoning), 0) AS reasoning
         FROM unnest($2::int[], $13::int[], $14::int[]) AS x(line_no, cached, reasoning)
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
      [
        batchId,
        col('lineNo'),
        col('requestId'),
        text('customId'),
        col('outcome'),
        col('statusCode'),
        text('upstreamRequestId'),
        text('body'),
        col('errorCode'),
        text('errorMessage'),
        col('promptTokens'),
        col('completionTokens'),
        col('cachedTokens'),
        col('reasoningTokens'),
      ],
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
