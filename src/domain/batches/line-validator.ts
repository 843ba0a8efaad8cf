import { MAX_LINE_BODY_DEPTH, nestsDeeperThan } from '../../common/json-depth';
import { isStorableText, storableText } from '../../common/pg-text';
import { BatchEndpoint } from '../../common/batch-endpoints';
import { BatchErrorItem } from './batch.entity';
import { EmbeddingInputTally, endpointBodyRefusal } from './endpoint-line-rules';
import { estimateLineTokens } from './token-estimate';

/** A request line that passed validation, reduced to what dispatch needs. */
export interface ValidLine {
  customId: string;
  model: string;
  body: Record<string, unknown>;
}

export type LineCheck = { ok: true; line: ValidLine } | { ok: false; error: BatchErrorItem };

const fail = (lineNo: number, code: string, message: string, param: string | null): LineCheck => ({
  ok: false,
  // Messages quote user text: made storable so the batch's `errors` can always be saved.
  error: { code, message: storableText(message), param, line: lineNo },
});

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const MAX_CUSTOM_ID = 512;

/** A line's JSON object, or whether it was JSON at all. */
export type ParsedLine = { ok: true; fields: Record<string, unknown> } | { ok: false; json: boolean };

/**
 * The one parser of a batch input line: validation, dispatch and finalization all read lines
 * through it.
 */
export function parseInputLine(text: string): ParsedLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, json: false };
  }
  return isObject(parsed) ? { ok: true, fields: parsed } : { ok: false, json: true };
}

/**
 * Checks one JSONL line against OpenAI's BatchRequestInput rules, independently of other lines
 * (duplicates and model consistency are checked by the caller, which sees the whole file). Pure: no
 * I/O, so it can be fuzzed.
 */
export function checkLine(text: string, lineNo: number, endpoint: BatchEndpoint): LineCheck {
  const line = parseInputLine(text);
  if (!line.ok) {
    const message = line.json ? `Line ${lineNo} must be a JSON object.` : `Line ${lineNo} is not valid JSON.`;
    return fail(lineNo, 'invalid_json_line', message, null);
  }
  const parsed = line.fields;
  for (const field of ['custom_id', 'method', 'url', 'body'] as const) {
    if (parsed[field] === undefined || parsed[field] === null) {
      return fail(
        lineNo,
        'missing_required_parameter',
        `Line ${lineNo} is missing required parameter '${field}'.`,
        field,
      );
    }
  }
  const { custom_id: customId, method, url, body } = parsed;
  if (typeof customId !== 'string' || customId.length === 0 || customId.length > MAX_CUSTOM_ID) {
    return fail(
      lineNo,
      'invalid_request',
      `'custom_id' must be a non-empty string of at most ${MAX_CUSTOM_ID} characters.`,
      'custom_id',
    );
  }
  // A custom_id is stored and given back in the output exactly: PostgreSQL cannot store NUL, and a
  // lone surrogate would come back as U+FFFD, so the client could not match its result.
  if (!isStorableText(customId)) {
    return fail(
      lineNo,
      'invalid_request',
      `Line ${lineNo}: 'custom_id' must not contain NUL characters or unpaired surrogates.`,
      'custom_id',
    );
  }
  if (method !== 'POST') {
    return fail(lineNo, 'invalid_request', `Line ${lineNo}: 'method' must be 'POST'.`, 'method');
  }
  if (url !== endpoint) {
    return fail(
      lineNo,
      'invalid_url',
      `Line ${lineNo}: the url '${String(url).slice(0, 100)}' does not match the batch endpoint '${endpoint}'.`,
      'url',
    );
  }
  if (!isObject(body)) {
    return fail(lineNo, 'invalid_request', `Line ${lineNo}: 'body' must be a JSON object.`, 'body');
  }
  if (nestsDeeperThan(body, MAX_LINE_BODY_DEPTH)) {
    return fail(
      lineNo,
      'invalid_request',
      `Line ${lineNo}: 'body' nests more than ${MAX_LINE_BODY_DEPTH} levels deep.`,
      'body',
    );
  }
  if (body.stream === true) {
    return fail(
      lineNo,
      'streaming_unsupported',
      `Line ${lineNo}: streaming is not supported in batches.`,
      'body.stream',
    );
  }
  if (typeof body.model !== 'string' || body.model === '') {
    return fail(
      lineNo,
      'missing_required_parameter',
      `Line ${lineNo} is missing required parameter 'body.model'.`,
      'body.model',
    );
  }
  const refusal = endpointBodyRefusal(endpoint, body);
  if (refusal) return fail(lineNo, refusal.code, `Line ${lineNo}: ${refusal.message}`, refusal.param);
  return { ok: true, line: { customId, model: body.model, body } };
}

/** Accumulates the file-level checks over a stream of lines, keeping only bounded state. */
export class FileValidation {
  readonly errors: BatchErrorItem[] = [];
  errorCount = 0;
  requestCount = 0;
  model: string | null = null;
  modelFirstLine: number | null = null;
  /** Tokens the valid lines enqueue (see token-estimate.ts), for the enqueued-token limit. */
  estimatedTokens = 0;
  private readonly customIds = new Set<string>();
  private readonly embeddingInputs = new EmbeddingInputTally();

  constructor(
    private readonly endpoint: BatchEndpoint,
    private readonly maxErrors: number,
    private readonly defaultMaxTokens: number,
  ) {}

  addError(error: BatchErrorItem): void {
    this.errorCount++;
    if (this.errors.length < this.maxErrors)
      this.errors.push({ ...error, message: storableText(error.message) });
  }

  /** A line too long to read: counted as a request, refused as not JSON. */
  addTooLong(lineNo: number): void {
    this.requestCount++;
    this.addError({
      code: 'invalid_json_line',
      message: `Line ${lineNo} is too long.`,
      param: null,
      line: lineNo,
    });
  }

  addLine(text: string, lineNo: number): void {
    this.requestCount++;
    const check = checkLine(text, lineNo, this.endpoint);
    if (!check.ok) return this.addError(check.error);
    const { customId, model, body } = check.line;
    this.estimatedTokens = Math.min(
      this.estimatedTokens + estimateLineTokens(this.endpoint, body, this.defaultMaxTokens),
      Number.MAX_SAFE_INTEGER,
    );
    if (this.endpoint === '/v1/embeddings') {
      const tooMany = this.embeddingInputs.add(body);
      if (tooMany) this.addError({ ...tooMany, message: `Line ${lineNo}: ${tooMany.message}`, line: lineNo });
    }
    if (this.customIds.has(customId)) {
      return this.addError({
        code: 'duplicate_custom_id',
        message: `Line ${lineNo}: the custom_id '${customId.slice(0, 100)}' is used by an earlier line; custom_id must be unique.`,
        param: 'custom_id',
        line: lineNo,
      });
    }
    this.customIds.add(customId);
    if (this.model === null) {
      this.model = model;
      this.modelFirstLine = lineNo;
    } else if (model !== this.model) {
      this.addError({
        code: 'mismatched_model',
        message: `Line ${lineNo}: model '${model.slice(0, 100)}' differs from '${this.model.slice(0, 100)}' used earlier; a batch uses one model.`,
        param: 'body.model',
        line: lineNo,
      });
    }
  }

  /** The errors as stored on the batch, with a closing note when more were found than kept. */
  report(): BatchErrorItem[] {
    if (this.errorCount <= this.errors.length) return this.errors;
    return [
      ...this.errors,
      {
        code: 'too_many_errors',
        message: `${this.errorCount - this.errors.length} more error(s) not shown; fix the ones above and upload again.`,
        param: null,
        line: null,
      },
    ];
  }
}
