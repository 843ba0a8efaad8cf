import type { RetryPolicy } from 'cockatiel';
import { AppConfig } from '../../platform/config/app-config';
import { newBatchRequestId, newUpstreamRequestId } from '../../common/ids';
import { MetricsService } from '../../platform/metrics/metrics.service';
import type { UpstreamOutcome } from '../../platform/metrics/metrics';
import { BatchResult, failedResult } from '../../domain/batches/batch-result';
import { ENDPOINT_METRICS, EndpointErrorKind } from '../pool/endpoint.metrics';
import type { Replica } from '../pool/replica';
import { LineAbort } from '../upstream/line-abort';
import { lineRetryPolicy, unlessAborted } from '../upstream/upstream-policies';
import { normaliseUsage } from '../upstream/upstream-usage';
import { UpstreamFailure, UpstreamResponse } from '../upstream/vllm.client';

/** Statuses worth another try: vLLM overloaded, restarting or failing transiently. */
const RETRYABLE_STATUS = (s: number): boolean => s === 408 || s === 429 || s >= 500;
/** Answers that mean "vLLM is not there right now" (a proxy in front of it, or vLLM's own queue cap). */
const UNAVAILABLE_STATUS = (s: number): boolean => s === 502 || s === 503 || s === 504;
/**
 * How many times one line may move away from a replica that is down. Moves do not use the retry
 * attempts; the bound only stops a request that itself brings every replica down from looping forever.
 */
const MAX_OUTAGE_WAITS = 20;

/**
 * The in-flight slot a line holds: on one replica at a time. `move` gives it back and waits for a
 * slot on a replica that accepts the line's model (false: the batch is stopping).
 */
export interface Lease {
  readonly replica: Replica;
  move(): Promise<boolean>;
}

/** One line being sent: what every attempt reuses, and the outage waits it has spent. */
interface Line {
  endpoint: string;
  model: string;
  payload: string;
  lease: Lease;
  base: Pick<BatchResult, 'lineNo' | 'requestId' | 'customId'>;
  abort: LineAbort;
  outageWaits: number;
}

/** An attempt's end: a final result, or a transient failure worth another attempt (if any is left). */
type RetryableAttempt = { retryable: { seconds: number; outcome: UpstreamOutcome; result: BatchResult } };
type Attempt = { result: BatchResult } | RetryableAttempt;

/**
 * Sends one batch line to a vLLM replica with bounded, jittered retries for transient failures,
 * and turns the outcome into the result row to record. Returns null when the request was aborted
 * (cancel, expiry or shutdown): an aborted line is not a result, it stays to be run or reported
 * later. Upstream 4xx answers (other than 408/429) are final: never retried. When the replica is
 * unreachable or answers 502/503/504, its breaker takes it out and the line moves to another
 * replica of its model (or waits for one to come back), without using its retry attempts, so an
 * outage fails no line. Exactly one attempt of a line is in flight at any time.
 */
export class LineDispatcher {
  private readonly retries: RetryPolicy;

  private readonly endpoints;

  constructor(
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
  ) {
    this.endpoints = metrics.of(ENDPOINT_METRICS);
    const { maxAttempts, retryBaseMs, retryMaxMs } = config.worker;
    this.retries = lineRetryPolicy(
      (a) => a !== null && 'retryable' in (a as Attempt),
      maxAttempts,
      retryBaseMs,
      retryMaxMs,
    );
    this.retries.onRetry((e) => {
      if ('value' in e)
        this.metrics.upstreamResult('retried', (e.value as RetryableAttempt).retryable.seconds);
    });
  }

  async run(
    endpoint: string,
    lineNo: number,
    customId: string,
    body: Record<string, unknown>,
    abort: LineAbort,
    lease: Lease,
  ): Promise<BatchResult | null> {
    if (this.config.vllmPriority !== undefined && body.priority === undefined)
      body.priority = this.config.vllmPriority;
    const line: Line = {
      endpoint,
      model: typeof body.model === 'string' ? body.model : '',
      lease,
      payload: JSON.stringify(body),
      base: { lineNo, requestId: newBatchRequestId(), customId },
      abort,
      outageWaits: 0,
    };
    // Most lines end with their first attempt: it runs outside the retry policy, which a line
    // enters only to wait and try again.
    const first = await this.attempt(line, 1);
    if (first === null) return null;
    if ('result' in first) return first.result;
    const outcome = await unlessAborted(
      this.retries.execute(
        ({ attempt }) => (attempt === 0 ? first : this.attempt(line, attempt + 1)),
        abort.signal,
      ),
      abort.signal,
    );
    if (outcome === null) return null;
    if ('result' in outcome) return outcome.result;
    // Out of attempts: the last transient failure is the line's result.
    this.metrics.upstreamResult(outcome.retryable.outcome, outcome.retryable.seconds);
    return outcome.retryable.result;
  }

  /**
   * One attempt: moves off a replica that no longer takes the line's model (down, draining), sends,
   * classifies. Moving away from an outage (unreachable, or 502/503/504) happens inside the
   * attempt, so it uses none of them.
   */
  private async attempt(line: Line, attempt: number): Promise<Attempt | null> {
    const { abort, base } = line;
    for (;;) {
      const replica = line.lease.replica;
      if (!replica.accepts(line.model)) {
        if (!(await line.lease.move()) || abort.aborted) return null;
        continue;
      }
      const started = performance.now();
      // A fresh id per attempt: vLLM refuses an id that is still running, and a timed-out attempt may be.
      const upstreamRequestId = newUpstreamRequestId();
      let res: UpstreamResponse;
      try {
        res = await replica.client.post(line.endpoint, line.payload, abort, upstreamRequestId);
      } catch (err) {
        const failure = err as UpstreamFailure;
        if (failure.kind === 'aborted' || abort.aborted) return null;
        const seconds = (performance.now() - started) / 1000;
        this.endpoints.failed(replica.id, failure.kind as EndpointErrorKind);
        if (failure.kind === 'timeout') {
          replica.feedback.timedOut();
          replica.breaker.reportFailure('timeout');
        }
        if (failure.kind === 'connection_error' && line.outageWaits < MAX_OUTAGE_WAITS) {
          // A replica gone (or restarting) counts as overload for its in-flight limit, as a 503
          // does: it backs off, and climbs again from there once the replica is back.
          replica.feedback.overloaded();
          replica.breaker.reportDown(failure.message);
          line.outageWaits++;
          this.metrics.upstreamResult('retried', seconds);
          continue;
        }
        return {
          retryable: {
            seconds,
            outcome: failure.kind === 'timeout' ? 'timeout' : 'connection_error',
            result: failedResult(base, {
              errorCode: failure.kind === 'timeout' ? 'upstream_timeout' : 'upstream_unreachable',
              errorMessage: `${failure.message} (after ${attempt} attempts)`,
            }),
          },
        };
      }
      const seconds = (performance.now() - started) / 1000;
      if (res.status === 429 || res.status === 503) replica.feedback.overloaded();
      if (res.status >= 500 || res.status === 429)
        this.endpoints.failed(replica.id, res.status === 429 ? 'http_429' : 'http_5xx');
      if (UNAVAILABLE_STATUS(res.status) && line.outageWaits < MAX_OUTAGE_WAITS) {
        replica.breaker.reportDown(`HTTP ${res.status}`);
        line.outageWaits++;
        this.metrics.upstreamResult('retried', seconds);
        continue;
      }
      if (res.status >= 500) replica.breaker.reportFailure(`HTTP ${res.status}`);
      else replica.breaker.reportUp();
      // vLLM echoes the id only with --enable-request-id-headers; ours is the same id otherwise.
      const requestId = res.requestId ?? upstreamRequestId;
      if (res.status >= 200 && res.status < 300)
        return { result: this.success(line, res, requestId, seconds) };
      const failed = failedResult(base, {
        statusCode: res.status,
        upstreamRequestId: requestId,
        body: res.body,
      });
      const outcome = res.status >= 500 ? 'upstream_5xx' : 'upstream_4xx';
      if (RETRYABLE_STATUS(res.status)) return { retryable: { seconds, outcome, result: failed } };
      this.metrics.upstreamResult(outcome, seconds);
      return { result: failed };
    }
  }

  private success(
    { base, lease, model }: Line,
    res: UpstreamResponse,
    requestId: string,
    seconds: number,
  ): BatchResult {
    let parsed: { usage?: unknown };
    try {
      parsed = JSON.parse(res.body) as { usage?: unknown };
    } catch {
      this.metrics.upstreamResult('upstream_5xx', seconds);
      return failedResult(base, {
        statusCode: res.status,
        upstreamRequestId: requestId,
        errorCode: 'invalid_upstream_response',
        errorMessage: 'vLLM answered with a body that is not JSON.',
      });
    }
    this.metrics.upstreamResult('ok', seconds);
    const usage = normaliseUsage(parsed?.usage);
    const { promptTokens, completionTokens } = usage;
    this.metrics.addTokens(promptTokens, completionTokens);
    lease.replica.feedback.answered(seconds * 1000, promptTokens, completionTokens);
    this.endpoints.answered(lease.replica.id, model, seconds);
    // Spelled out rather than spread: one per line, and spreading two objects into a literal
    // cost more than parsing the answer.
    return {
      lineNo: base.lineNo,
      requestId: base.requestId,
      customId: base.customId,
      outcome: 'succeeded',
      statusCode: res.status,
      upstreamRequestId: requestId,
      // Each result is one JSONL line: a body with line breaks between its tokens (pretty-printed by
      // a proxy) is written compactly instead. Breaks inside JSON strings are always escaped.
      body: /[\r\n]/.test(res.body) ? JSON.stringify(parsed) : res.body,
      errorCode: null,
      errorMessage: null,
      promptTokens,
      completionTokens,
      cachedTokens: usage.cachedTokens,
      reasoningTokens: usage.reasoningTokens,
    };
  }
}
