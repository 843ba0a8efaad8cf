import type { RetryPolicy } from 'cockatiel';
import { AppConfig } from '../../platform/config/app-config';
import { newBatchRequestId, newUpstreamRequestId } from '../../common/ids';
import { MetricsService } from '../../platform/metrics/metrics.service';
import type { UpstreamOutcome } from '../../platform/metrics/metrics';
import { BatchResult, failedResult } from '../../domain/batches/batch-result';
import { UpstreamGate } from '../upstream/upstream-gate';
import { lineRetryPolicy, unlessAborted } from '../upstream/upstream-policies';
import { normaliseUsage } from '../upstream/upstream-usage';
import { UpstreamFailure, UpstreamResponse, VllmClient } from '../upstream/vllm.client';

/** Statuses worth another try: vLLM overloaded, restarting or failing transiently. */
const RETRYABLE_STATUS = (s: number): boolean => s === 408 || s === 429 || s >= 500;
/** Answers that mean "vLLM is not there right now" (a proxy in front of it, or vLLM's own queue cap). */
const UNAVAILABLE_STATUS = (s: number): boolean => s === 502 || s === 503 || s === 504;
/**
 * How many times one line may wait out an outage (see UpstreamGate). These waits do not use the
 * retry attempts; the bound only stops a request that itself brings vLLM down from looping forever.
 */
const MAX_OUTAGE_WAITS = 20;

/**
 * What the concurrency controller learns from dispatch: answers with their latency and usage,
 * overload answers (429/503) and timeouts. Called once per upstream attempt.
 */
export interface DispatchFeedback {
  answered(ms: number, promptTokens: number, completionTokens: number): void;
  overloaded(): void;
  timedOut(): void;
}

/** One line being sent: what every attempt reuses, and the outage waits it has spent. */
interface Line {
  endpoint: string;
  payload: string;
  base: Pick<BatchResult, 'lineNo' | 'requestId' | 'customId'>;
  signal: AbortSignal;
  outageWaits: number;
}

/** An attempt's end: a final result, or a transient failure worth another attempt (if any is left). */
type RetryableAttempt = { retryable: { seconds: number; outcome: UpstreamOutcome; result: BatchResult } };
type Attempt = { result: BatchResult } | RetryableAttempt;

const NO_FEEDBACK: DispatchFeedback = {
  answered: () => undefined,
  overloaded: () => undefined,
  timedOut: () => undefined,
};

/**
 * Sends one batch line to vLLM with bounded, jittered retries for transient failures, and turns
 * the outcome into the result row to record. Returns null when the request was aborted (cancel,
 * expiry or shutdown): an aborted line is not a result, it stays to be run or reported later.
 * Upstream 4xx answers (other than 408/429) are final: never retried. When vLLM is unreachable or
 * answers 502/503/504, the line waits at the shared UpstreamGate until vLLM is back, without using
 * its retry attempts, so an outage fails no line.
 */
export class LineDispatcher {
  private readonly retries: RetryPolicy;

  constructor(
    private readonly vllm: VllmClient,
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
    private readonly gate: UpstreamGate = new UpstreamGate(() => vllm.healthy()),
    private readonly feedback: DispatchFeedback = NO_FEEDBACK,
  ) {
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
    signal: AbortSignal,
  ): Promise<BatchResult | null> {
    if (this.config.vllmPriority !== undefined && body.priority === undefined)
      body.priority = this.config.vllmPriority;
    const line: Line = {
      endpoint,
      payload: JSON.stringify(body),
      base: { lineNo, requestId: newBatchRequestId(), customId },
      signal,
      outageWaits: 0,
    };
    const outcome = await unlessAborted(
      this.retries.execute(({ attempt }) => this.attempt(line, attempt + 1), signal),
      signal,
    );
    if (outcome === null) return null;
    if ('result' in outcome) return outcome.result;
    // Out of attempts: the last transient failure is the line's result.
    this.metrics.upstreamResult(outcome.retryable.outcome, outcome.retryable.seconds);
    return outcome.retryable.result;
  }

  /**
   * One attempt: waits while the gate is shut, sends, classifies. Waiting out an outage (vLLM
   * unreachable, or answering 502/503/504) happens inside the attempt, so it uses none of them.
   */
  private async attempt(line: Line, attempt: number): Promise<Attempt | null> {
    const { signal, base } = line;
    for (;;) {
      try {
        await this.gate.wait(signal);
      } catch {
        return null; // aborted while vLLM was down
      }
      const started = performance.now();
      // A fresh id per attempt: vLLM refuses an id that is still running, and a timed-out attempt may be.
      const upstreamRequestId = newUpstreamRequestId();
      let res: UpstreamResponse;
      try {
        res = await this.vllm.post(line.endpoint, line.payload, signal, upstreamRequestId);
      } catch (err) {
        const failure = err as UpstreamFailure;
        if (failure.kind === 'aborted' || signal.aborted) return null;
        const seconds = (performance.now() - started) / 1000;
        if (failure.kind === 'timeout') this.feedback.timedOut();
        if (failure.kind === 'connection_error' && line.outageWaits < MAX_OUTAGE_WAITS) {
          // vLLM gone (or restarting) counts as overload for the in-flight limit, as a 503 does: it
          // backs off, and climbs again from there once the gate reopens.
          this.feedback.overloaded();
          this.waitOutOutage(line, seconds, failure.message);
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
      if (res.status === 429 || res.status === 503) this.feedback.overloaded();
      if (UNAVAILABLE_STATUS(res.status) && line.outageWaits < MAX_OUTAGE_WAITS) {
        this.waitOutOutage(line, seconds, `HTTP ${res.status}`);
        continue;
      }
      this.gate.reportUp();
      // vLLM echoes the id only with --enable-request-id-headers; ours is the same id otherwise.
      const requestId = res.requestId ?? upstreamRequestId;
      if (res.status >= 200 && res.status < 300)
        return { result: this.success(base, res, requestId, seconds) };
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

  private waitOutOutage(line: Line, seconds: number, reason: string): void {
    line.outageWaits++;
    this.metrics.upstreamResult('retried', seconds);
    this.gate.reportDown(reason);
  }

  private success(
    base: Pick<BatchResult, 'lineNo' | 'requestId' | 'customId'>,
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
    this.feedback.answered(seconds * 1000, promptTokens, completionTokens);
    return {
      ...base,
      outcome: 'succeeded',
      statusCode: res.status,
      upstreamRequestId: requestId,
      // Each result is one JSONL line: a body with line breaks between its tokens (pretty-printed by
      // a proxy) is written compactly instead. Breaks inside JSON strings are always escaped.
      body: /[\r\n]/.test(res.body) ? JSON.stringify(parsed) : res.body,
      errorCode: null,
      errorMessage: null,
      ...usage,
    };
  }
}
