import { BatchEndpoint } from '../../common/batch-endpoints';
import { storableText } from '../../common/pg-text';
import { BatchErrorItem } from './batch.entity';
import { JsonlLine, TooLongLine } from './jsonl-reader';
import { FileValidation } from './line-validator';

/** The limits one check of an input file applies (the deployment's BATCH_* settings). */
export interface InputFileRules {
  endpoint: BatchEndpoint;
  /** More requests than this fail the whole file. */
  maxLines: number;
  /** Errors kept in the report; the rest are counted in a closing `too_many_errors` item. */
  maxErrors: number;
  /** Output tokens assumed for a line that sets no limit, in the token estimate. */
  defaultMaxTokens: number;
  /** Told each line's token estimate once the line passed its rules (the CLI compares it with a context length). */
  onLineTokens?: (lineNo: number, tokens: number) => void;
}

/** What one pass over an input file found; the model check, which needs the upstreams, is left out. */
export type InputFileReport =
  | {
      ok: true;
      requests: number;
      model: string;
      /** The line that first named `model` (where a model_not_found is reported). */
      modelFirstLine: number;
      estimatedTokens: number;
    }
  | { ok: false; requests: number; errors: BatchErrorItem[] };

/**
 * The checks of a whole input file, in one streaming pass: every line's rules, duplicate custom_ids,
 * one model per file, the line count and an empty file. The worker runs it on the stored file
 * before a batch starts; the `vllm-batch validate` command runs it on a local file before upload, so
 * both report the same errors with the same line numbers.
 */
export async function checkInputFile(
  lines: AsyncIterable<JsonlLine | TooLongLine>,
  rules: InputFileRules,
): Promise<InputFileReport> {
  const check = new FileValidation(rules.endpoint, rules.maxErrors, rules.defaultMaxTokens);
  for await (const item of lines) {
    if (check.requestCount >= rules.maxLines) {
      // Leaving the loop ends the caller's iterator, which closes the file.
      const message = `The input file has more than ${rules.maxLines} requests; split it into several batches.`;
      return { ok: false, requests: check.requestCount, errors: [fileError('invalid_request', message)] };
    }
    if ('tooLong' in item) check.addTooLong(item.lineNo);
    else {
      const before = check.estimatedTokens;
      check.addLine(item.text, item.lineNo);
      // The running estimate grows only for a line that passed its rules.
      const tokens = check.estimatedTokens - before;
      if (tokens > 0) rules.onLineTokens?.(item.lineNo, tokens);
    }
  }
  if (check.requestCount === 0) {
    const message = 'The input file is empty: it holds no requests.';
    return { ok: false, requests: 0, errors: [fileError('invalid_request', message)] };
  }
  if (check.errorCount > 0) return { ok: false, requests: check.requestCount, errors: check.report() };
  return {
    ok: true,
    requests: check.requestCount,
    model: check.model as string,
    modelFirstLine: check.modelFirstLine as number,
    estimatedTokens: check.estimatedTokens,
  };
}

/** An error about the file as a whole (no line). */
export function fileError(code: string, message: string, param: string | null = null): BatchErrorItem {
  return { code, message, param, line: null };
}

/** The error of a file whose model no replica serves, on the line that first named it. */
export function modelNotServed(model: string, available: readonly string[], line: number): BatchErrorItem {
  return {
    code: 'model_not_found',
    message: storableText(
      `The model '${model.slice(0, 100)}' is not served by this deployment. Available: ${available.join(', ') || 'none'}.`,
    ),
    param: 'body.model',
    line,
  };
}
