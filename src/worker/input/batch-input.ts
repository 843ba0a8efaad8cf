import { Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { BatchEntity } from '../../domain/batches/batch.entity';
import { parseInputLine, ParsedLine } from '../../domain/batches/line-validator';
import { FilesService } from '../../domain/files/files.service';
import { JsonlLine, readJsonlLines, TooLongLine } from '../../domain/batches/jsonl-reader';

type InputOf = Pick<BatchEntity, 'tenantId' | 'inputFileId'>;

/** A line of a batch's input file, parsed. */
export interface InputRequest {
  lineNo: number;
  /** The line's length in UTF-16 units: a cheap size for bounding read-ahead. */
  chars: number;
  line: ParsedLine;
}

/**
 * The one reader of batch input files, for validation, dispatch and finalization. Each read streams
 * the file from storage, holding one line (plus one chunk) at a time, whatever the file's size;
 * ending a read early (break, return) closes the stream.
 */
@Injectable()
export class BatchInput {
  constructor(private readonly files: FilesService) {}

  /** Opens the batch's input file (rejecting when it is gone) and streams every line of it. */
  async open(batch: InputOf): Promise<AsyncGenerator<JsonlLine | TooLongLine>> {
    const { stream } = await this.files.content(batch.tenantId, batch.inputFileId);
    return linesOf(stream);
  }

  /**
   * The requests of a batch whose file passed validation, parsed once each, except the lines in
   * `skip` (already recorded). Lines too long to read are left out: validation refused them.
   */
  async *requests(batch: InputOf, skip: ReadonlySet<number>): AsyncGenerator<InputRequest> {
    for await (const item of await this.open(batch)) {
      if ('tooLong' in item || skip.has(item.lineNo)) continue;
      yield { lineNo: item.lineNo, chars: item.text.length, line: parseInputLine(item.text) };
    }
  }
}

async function* linesOf(stream: Readable): AsyncGenerator<JsonlLine | TooLongLine> {
  try {
    yield* readJsonlLines(stream);
  } finally {
    stream.destroy();
  }
}
