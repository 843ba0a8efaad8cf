import { Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import { newBatchRequestId } from '../../common/ids';
import { BatchEntity } from '../../domain/batches/batch.entity';
import { BatchResultOutcome, BatchResultOutput, failedResult } from '../../domain/batches/batch-result';
import { BatchResultRepository } from '../../domain/batches/batch-result.repository';
import { FilesService } from '../../domain/files/files.service';
import { ResultRecorder } from '../dispatch/result-recorder';
import { BatchInput } from '../input/batch-input';
import { toOpenAiErrorBody } from '../upstream/upstream-error';

const PAGE = 1000;

/**
 * Turns recorded results into the batch's output and error files, streaming from PostgreSQL page
 * by page into storage, so memory does not grow with the batch.
 */
@Injectable()
export class BatchFinalizerService {
  constructor(
    private readonly results: BatchResultRepository,
    private readonly files: FilesService,
    private readonly input: BatchInput,
  ) {}

  /**
   * Records every line that has no result yet as failed with `code` (batch_cancelled, batch_expired):
   * each custom_id then appears exactly once across the two files.
   */
  async recordUnrun(batch: BatchEntity, code: string, message: string): Promise<void> {
    const done = await this.results.recordedLines(batch.id);
    const recorder = new ResultRecorder(this.results, batch.id);
    for await (const { lineNo, line } of this.input.requests(batch, done)) {
      // A batch cancelled while validating may have lines that are not JSON objects.
      const customId = line.ok ? String(line.fields.custom_id) : `line-${lineNo}`;
      await recorder.waitForRoom();
      recorder.add(
        failedResult(
          { lineNo, requestId: newBatchRequestId(), customId },
          { errorCode: code, errorMessage: message },
        ),
      );
    }
    await recorder.drain();
  }

  /** Writes the output and error files; returns their ids (null when a file would be empty). */
  async writeFiles(batch: BatchEntity): Promise<{ outputFileId: string | null; errorFileId: string | null }> {
    const counts = await this.results.countByOutcome(batch.id);
    // Without output_expires_after, the files get the default expiry (FILE_DEFAULT_EXPIRY_DAYS).
    const expiresAfter = batch.outputExpiresAfter?.seconds;
    const write = async (outcome: BatchResultOutcome, suffix: string): Promise<string | null> => {
      if (counts[outcome] === 0) return null;
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

  private async *lines(batchId: string, outcome: BatchResultOutcome): AsyncGenerator<Buffer> {
    let after = 0;
    for (;;) {
      const rows = await this.results.page(batchId, outcome, after, PAGE);
      if (rows.length === 0) return;
      let chunk = '';
      for (const row of rows) chunk += formatLine(row);
      // Bytes, not a string: what storage counts and stores is then the UTF-8 encoding, once.
      yield Buffer.from(chunk, 'utf8');
      after = rows[rows.length - 1].lineNo;
    }
  }
}

/**
 * One line of an output or error file (OpenAI's BatchRequestOutput). Successful upstream bodies are
 * spliced in as received: they were checked to be JSON when recorded, so they are not parsed again.
 * Failed ones are put in OpenAI's error envelope here rather than when recorded, so the raw upstream
 * answer stays in the database and rows recorded by older versions come out in the same shape.
 */
export function formatLine(row: BatchResultOutput): string {
  const head = `{"id":${JSON.stringify(row.requestId)},"custom_id":${JSON.stringify(row.customId)},`;
  if (row.statusCode === null || row.body === null) {
    const error = {
      code: row.errorCode ?? 'internal_error',
      message: row.errorMessage ?? 'The request did not run.',
    };
    return `${head}"response":null,"error":${JSON.stringify(error)}}\n`;
  }
  const ok = row.statusCode >= 200 && row.statusCode < 300;
  const body = ok ? row.body : JSON.stringify(toOpenAiErrorBody(row.statusCode, row.body));
  // Rows from before ids were sent upstream may have none: the line's own id stands in.
  const requestId = row.upstreamRequestId ?? row.requestId;
  return `${head}"response":{"status_code":${row.statusCode},"request_id":${JSON.stringify(requestId)},"body":${body}},"error":null}\n`;
}
