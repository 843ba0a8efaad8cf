import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Readable } from 'node:stream';
import { DataSource } from 'typeorm';
import { BatchEntity } from '../../domain/batches/batch.entity';
import { readJsonlLines } from '../input/jsonl-reader';
import { newBatchRequestId } from '../../common/ids';
import { FilesService } from '../../domain/files/files.service';
import { failedResult, ResultRecorder } from '../dispatch/result-recorder';
import { toOpenAiErrorBody } from '../upstream/upstream-error';

const PAGE = 1000;

interface ResultRow {
  line_no: number;
  request_id: string;
  custom_id: string;
  status_code: number | null;
  upstream_request_id: string | null;
  body: string | null;
  error_code: string | null;
  error_message: string | null;
}

/**
 * Turns recorded results into the batch's output and error files, streaming from PostgreSQL page
 * by page into storage, so memory does not grow with the batch.
 */
@Injectable()
export class BatchFinalizerService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly files: FilesService,
  ) {}

  /** Line numbers already recorded for a batch. */
  async recordedLines(batchId: string): Promise<Set<number>> {
    const rows: { line_no: number }[] = await this.db.query(
      'SELECT line_no FROM batch_requests WHERE batch_id = $1',
      [batchId],
    );
    return new Set(rows.map((r) => r.line_no));
  }

  /**
   * Records every line that has no result yet as failed with `code` (batch_cancelled, batch_expired):
   * each custom_id then appears exactly once across the two files.
   */
  async recordUnrun(batch: BatchEntity, code: string, message: string): Promise<void> {
    const done = await this.recordedLines(batch.id);
    const recorder = new ResultRecorder(this.db, batch.id);
    const { stream } = await this.files.content(batch.tenantId, batch.inputFileId);
    for await (const item of readJsonlLines(stream)) {
      if ('tooLong' in item || done.has(item.lineNo)) continue;
      let customId = `line-${item.lineNo}`;
      try {
        customId = String((JSON.parse(item.text) as { custom_id: unknown }).custom_id);
      } catch {
        // validated earlier; keep the placeholder if the file is somehow unreadable now
      }
      await recorder.waitForRoom();
      recorder.add(
        failedResult(
          { lineNo: item.lineNo, requestId: newBatchRequestId(), customId },
          { errorCode: code, errorMessage: message },
        ),
      );
    }
    await recorder.drain();
  }

  /** Writes the output and error files; returns their ids (null when a file would be empty). */
  async writeFiles(batch: BatchEntity): Promise<{ outputFileId: string | null; errorFileId: string | null }> {
    const counts: { outcome: string; n: string }[] = await this.db.query(
      'SELECT outcome, count(*) AS n FROM batch_requests WHERE batch_id = $1 GROUP BY outcome',
      [batch.id],
    );
    const count = (o: string): number => Number(counts.find((c) => c.outcome === o)?.n ?? 0);
    // Without output_expires_after, the files get the default expiry (FILE_DEFAULT_EXPIRY_DAYS).
    const expiresAfter = batch.outputExpiresAfter?.seconds;
    const write = async (outcome: 'succeeded' | 'failed', suffix: string): Promise<string | null> => {
      if (count(outcome) === 0) return null;
      const file = await this.files.storeGenerated(
        batch.tenantId,
        `${batch.id}_${suffix}.jsonl`,
        'batch_output',
        Readable.from(this.lines(batch.id, outcome)),
        expiresAfter,
      );
      return file.id;
    };
    return { outputFileId: await write('succeeded', 'output'), errorFileId: await write('failed', 'error') };
  }

  private async *lines(batchId: string, outcome: 'succeeded' | 'failed'): AsyncGenerator<Buffer> {
    let after = 0;
    for (;;) {
      const rows: ResultRow[] = await this.db.query(
        `SELECT line_no, request_id, custom_id, status_code, upstream_request_id, body, error_code, error_message
           FROM batch_requests WHERE batch_id = $1 AND outcome = $2 AND line_no > $3 ORDER BY line_no LIMIT ${PAGE}`,
        [batchId, outcome, after],
      );
      if (rows.length === 0) return;
      let chunk = '';
      for (const row of rows) chunk += formatLine(row);
      // Bytes, not a string: what storage counts and stores is then the UTF-8 encoding, once.
      yield Buffer.from(chunk, 'utf8');
      after = rows[rows.length - 1].line_no;
    }
  }
}

/**
 * One line of an output or error file (OpenAI's BatchRequestOutput). Successful upstream bodies are
 * spliced in as received: they were checked to be JSON when recorded, so they are not parsed again.
 * Failed ones are put in OpenAI's error envelope here rather than when recorded, so the raw upstream
 * answer stays in the database and rows recorded by older versions come out in the same shape.
 */
export function formatLine(row: ResultRow): string {
  const head = `{"id":${JSON.stringify(row.request_id)},"custom_id":${JSON.stringify(row.custom_id)},`;
  if (row.status_code === null || row.body === null) {
    const error = {
      code: row.error_code ?? 'internal_error',
      message: row.error_message ?? 'The request did not run.',
    };
    return `${head}"response":null,"error":${JSON.stringify(error)}}\n`;
  }
  const ok = row.status_code >= 200 && row.status_code < 300;
  const body = ok ? row.body : JSON.stringify(toOpenAiErrorBody(row.status_code, row.body));
  // Rows from before ids were sent upstream may have none: the line's own id stands in.
  const requestId = row.upstream_request_id ?? row.request_id;
  return `${head}"response":{"status_code":${row.status_code},"request_id":${JSON.stringify(requestId)},"body":${body}},"error":null}\n`;
}
