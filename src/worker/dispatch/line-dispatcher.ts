import { AppConfig } from '../../platform/config/app-config';
import { newBatchRequestId, newUpstreamRequestId } from '../../common/ids';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { backoffDelay, sleep } from '../upstream/backoff';
import { BatchResult, failedResult } from '../../domain/batches/batch-result';
import { UpstreamGate } from '../upstream/upstream-gate';
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
  constructor(
    private readonly vllm: VllmClient,
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
    private readonly gate: UpstreamGate = new UpstreamGate(() => vllm.healthy()),
    private readonly feedback: DispatchFeedback = NO_FEEDBACK,
  ) {}

  async run(
    endpoint: string,
    lineNo: number,
    customId: string,
    body: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<BatchResult | null> {
    const { maxAttempts, retryBaseMs, retryMaxMs } = this.config.worker;
    if (this.config.vllmPriority !== undefined && body.priority === undefined)
      body.priority = this.config.vllmPriority;
    const payload = JSON.stringify(body);
    const base = { lineNo, requestId: newBatchRequestId(), customId };
    let outageWaits = 0;
    for (let attempt = 1; ; attempt++) {
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
        res = await this.vllm.post(endpoint, payload, signal, upstreamRequestId);
      } catch (err) {
        const failure = err as UpstreamFailure;
        if (failure.kind === 'aborted' || signal.aborted) return null;
        const seconds = (performance.now() - started) / 1000;
        if (failure.kind === 'timeout') this.feedback.timedOut();
        if (failure.kind === 'connection_error' && outageWaits < MAX_OUTAGE_WAITS) {
          // vLLM gone (or restarting) counts as overload for the in-flight limit, as a 503 does: it
          // backs off, and climbs again from there once the gate reopens.
          this.feedback.overloaded();
          outageWaits++;
          attempt--; // waiting out an outage is not an attempt
          this.metrics.upstreamResult('retried', seconds);
          this.gate.reportDown(failure.message);
          continue;
        }
        if (attempt < maxAttempts) {
          this.metrics.upstreamResult('retried', seconds);
          if (!(await this.pause(attempt, retryBaseMs, retryMaxMs, signal))) return null;
          continue;
        }
        this.metrics.upstreamResult(failure.kind === 'timeout' ? 'timeout' : 'connection_error', seconds);
        return failedResult(base, {
          errorCode: failure.kind === 'timeout' ? 'upstream_timeout' : 'upstream_unreachable',
          errorMessage: `${failure.message} (after ${attempt} attempts)`,
        });
      }
      const seconds = (performance.now() - started) / 1000;
      if (res.status === 429 || res.status === 503) this.feedback.overloaded();
      if (UNAVAILABLE_STATUS(res.status) && outageWaits < MAX_OUTAGE_WAITS) {
        outageWaits++;
        attempt--;
        this.metrics.upstreamResult('retried', seconds);
        this.gate.reportDown(`HTTP ${res.status}`);
        continue;
      }
      this.gate.reportUp();
      // vLLM echoes the id only with --enable-request-id-headers; ours is the same id otherwise.
      const requestId = res.requestId ?? upstreamRequestId;
      if (res.status >= 200 && res.status < 300) return this.success(base, res, requestId, seconds);
      if (RETRYABLE_STATUS(res.status) && attempt < maxAttempts) {
        this.metrics.upstreamResult('retried', seconds);
        if (!(await this.pause(attempt, retryBaseMs, retryMaxMs, signal))) return null;
        continue;
      }
      this.metrics.upstreamResult(res.status >= 500 ? 'upstream_5xx' : 'upstream_4xx', seconds);
      return failedResult(base, { statusCode: res.status, upstreamRequestId: requestId, body: res.body });
    }
  }

  private async pause(attempt: number, baseMs: number, maxMs: number, signal: AbortSignal): Promise<boolean> {
    try {
      await sleep(backoffDelay(attempt, baseMs, maxMs), signal);
      return true;
    } catch {
      return false;
    }
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
