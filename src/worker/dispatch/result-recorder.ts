import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { storableText } from '../../common/pg-text';

export interface LineResult {
  lineNo: number;
  requestId: string;
  customId: string;
  outcome: 'succeeded' | 'failed';
  statusCode: number | null;
  upstreamRequestId: string | null;
  body: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

/** The result of a line that did not succeed: an upstream HTTP error (status and body) or one that never got an answer (code and message). */
export function failedResult(
  base: Pick<LineResult, 'lineNo' | 'requestId' | 'customId'>,
  detail: Partial<
    Pick<LineResult, 'statusCode' | 'upstreamRequestId' | 'body' | 'errorCode' | 'errorMessage'>
  >,
): LineResult {
  return {
    ...base,
    outcome: 'failed',
    statusCode: null,
    upstreamRequestId: null,
    body: null,
    errorCode: null,
    errorMessage: null,
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
    reasoningTokens: 0,
    ...detail,
  };
}

const FLUSH_ROWS = 500;
const FLUSH_INTERVAL_MS = 250;
/** Above this many unwritten results (PostgreSQL down or slow), dispatch waits for the database. */
const MAX_BUFFERED = 5000;

/**
 * Writes finished lines of one batch to PostgreSQL in groups, at most FLUSH_INTERVAL_MS after they
 * finish. One statement inserts the rows (ON CONFLICT DO NOTHING: a line finished twice, by a retry or a
 * resumed worker, is kept once) and adds exactly the inserted rows to the batch's counters and usage,
 * so progress and results can never disagree. A failed write keeps the rows and retries.
 */
export class ResultRecorder {
  private buffer: LineResult[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private roomWaiters: Array<() => void> = [];
  private readonly logger = new Logger('ResultRecorder');

  constructor(
    private readonly db: DataSource,
    private readonly batchId: string,
    private readonly onFlushed: (rows: LineResult[]) => void = () => undefined,
  ) {}

  add(result: LineResult): void {
    this.buffer.push(result);
    if (this.buffer.length >= FLUSH_ROWS) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
  }

  /** Resolves when the buffer has room; dispatch awaits this so memory stays bounded. */
  waitForRoom(): Promise<void> {
    if (this.buffer.length < MAX_BUFFERED) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  /** Writes everything buffered; resolves once it is in PostgreSQL (retrying while it is unreachable). */
  async drain(): Promise<void> {
    while (this.buffer.length > 0 || this.flushing) {
      await this.flush();
    }
  }

  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.flushing) return this.flushing;
    if (this.buffer.length === 0) return Promise.resolve();
    const rows = this.buffer;
    this.buffer = [];
    this.flushing = this.write(rows)
      .then(
        () => this.onFlushed(rows),
        async (err) => {
          this.logger.warn(
            `could not record ${rows.length} result(s) of ${this.batchId}, will retry: ${(err as Error).message}`,
          );
          this.buffer = rows.concat(this.buffer);
          await new Promise((r) => setTimeout(r, 1000));
        },
      )
      .finally(() => {
        this.flushing = null;
        if (this.buffer.length < MAX_BUFFERED) {
          const waiters = this.roomWaiters;
          this.roomWaiters = [];
          waiters.forEach((w) => w());
        }
        if (this.buffer.length > 0 && !this.timer)
          this.timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
      });
    return this.flushing;
  }

  private async write(rows: LineResult[]): Promise<void> {
    const col = <K extends keyof LineResult>(k: K) => rows.map((r) => r[k]);
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
        this.batchId,
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
}
