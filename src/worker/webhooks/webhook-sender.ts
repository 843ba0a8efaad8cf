import { Inject, Injectable, Optional } from '@nestjs/common';
import {
  BrokenCircuitError,
  circuitBreaker,
  CircuitBreakerPolicy,
  ConsecutiveBreaker,
  handleAll,
  IsolatedCircuitError,
} from 'cockatiel';
import { Webhook } from 'standardwebhooks';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { ResolvedWebhookEndpoint } from '../../domain/webhooks/webhook-endpoints.service';

export interface BreakerOptions {
  /** Consecutive failed attempts to one URL that open its circuit. */
  failures: number;
  /** How long an open circuit refuses attempts before letting one through (half-open). */
  halfOpenAfterMs: number;
}

export const WEBHOOK_BREAKER_OPTIONS = Symbol('WEBHOOK_BREAKER_OPTIONS');
const DEFAULT_BREAKER: BreakerOptions = { failures: 5, halfOpenAfterMs: 30_000 };

export type AttemptResult = { ok: true; status: number } | { ok: false; error: string };

/** The receiver's circuit is open: the attempt was not made and must be postponed, not counted. */
export class CircuitOpen extends Error {
  constructor(readonly retryAfterMs: number) {
    super('circuit open: the receiver failed repeatedly; attempts are paused');
  }
}

class ReceiverRefused extends Error {}

/**
 * Sends one attempt of an event: the body as stored, signed afresh per Standard Webhooks (headers
 * `webhook-id` = the event id, stable across retries; `webhook-timestamp` = now, since verifiers
 * refuse timestamps older than five minutes; `webhook-signature: v1,<base64 HMAC>`, one per valid
 * secret separated by spaces, so during a rotation a receiver verifies with the old or the new). A 2xx answer
 * within WEBHOOK_TIMEOUT_MS delivers; anything else (other status, redirect, timeout, connection
 * error) fails the attempt. A circuit breaker per URL stops hammering a receiver that keeps failing.
 */
@Injectable()
export class WebhookSender {
  private readonly breakers = new Map<string, CircuitBreakerPolicy>();
  private readonly breaker: BreakerOptions;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Optional() @Inject(WEBHOOK_BREAKER_OPTIONS) breaker?: BreakerOptions,
  ) {
    this.breaker = breaker ?? DEFAULT_BREAKER;
  }

  async send(
    endpoint: ResolvedWebhookEndpoint,
    event: { id: string; payload: string },
  ): Promise<AttemptResult> {
    try {
      const status = await this.breakerFor(endpoint.url).execute(() => this.post(endpoint, event));
      return { ok: true, status };
    } catch (err) {
      if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) {
        throw new CircuitOpen(this.breaker.halfOpenAfterMs);
      }
      return { ok: false, error: (err as Error).message };
    }
  }

  private breakerFor(url: string): CircuitBreakerPolicy {
    let policy = this.breakers.get(url);
    if (!policy) {
      policy = circuitBreaker(handleAll, {
        halfOpenAfter: this.breaker.halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(this.breaker.failures),
      });
      this.breakers.set(url, policy);
    }
    return policy;
  }

  private async post(
    endpoint: ResolvedWebhookEndpoint,
    event: { id: string; payload: string },
  ): Promise<number> {
    const now = new Date();
    const timeoutMs = this.config.webhooks.timeoutMs;
    let res: Response;
    try {
      res = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'vllm-batch-webhooks',
          'webhook-id': event.id,
          'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          'webhook-signature': endpoint.secrets
            .map((secret) => new Webhook(secret).sign(event.id, now, event.payload))
            .join(' '),
        },
        body: event.payload,
        // A redirect is a failed attempt: following it would send signed events to a URL nobody configured.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      // Never the URL (it may carry a token): the reason only.
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError' || e.name === 'AbortError')
        throw new ReceiverRefused(`no answer within ${timeoutMs} ms`);
      throw new ReceiverRefused(`connection failed: ${e.cause?.code ?? e.cause?.message ?? e.message}`);
    }
    // The answer's body is never used: discarded unread, whatever its size.
    await res.body?.cancel().catch(() => undefined);
    if (res.status < 200 || res.status >= 300)
      throw new ReceiverRefused(`receiver answered HTTP ${res.status}`);
    return res.status;
  }
}
