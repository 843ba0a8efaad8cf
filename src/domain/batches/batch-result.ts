/** How a line of a batch ended: an answer from upstream (2xx), or anything else. */
export type BatchResultOutcome = 'succeeded' | 'failed';

/**
 * One finished line of a batch (a `batch_requests` row). Its key (batch, line) is what makes
 * results exactly-once: a line finished twice, by a retry or a resumed worker, is kept once.
 */
export interface BatchResult {
  /** 1-based line of the input file. */
  lineNo: number;
  /** Our id for the request (`batch_req_…`), the output line's `id`. */
  requestId: string;
  customId: string;
  outcome: BatchResultOutcome;
  /** The upstream HTTP status; null when no answer came (error code and message say why). */
  statusCode: number | null;
  upstreamRequestId: string | null;
  /** The upstream response body exactly as received (JSON text), passed through without re-parsing. */
  body: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  promptTokens: number;
  completionTokens: number;
  /** Counted into the batch's usage only; not stored per line. */
  cachedTokens: number;
  reasoningTokens: number;
}

/** What an output or error file line is made of. */
export type BatchResultOutput = Pick<
  BatchResult,
  'requestId' | 'customId' | 'statusCode' | 'upstreamRequestId' | 'body' | 'errorCode' | 'errorMessage'
>;

/** The result of a line that did not succeed: an upstream HTTP error (status and body) or one that never got an answer (code and message). */
export function failedResult(
  base: Pick<BatchResult, 'lineNo' | 'requestId' | 'customId'>,
  detail: Partial<
    Pick<BatchResult, 'statusCode' | 'upstreamRequestId' | 'body' | 'errorCode' | 'errorMessage'>
  >,
): BatchResult {
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
