import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger } from '@nestjs/common';
import { DelayedError, Job } from 'bullmq';
import { rateLimitedWarning } from '../../common/rate-limited-warning';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { WEBHOOK_METRICS } from '../../domain/webhooks/webhook.metrics';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { DeliverWebhookPayload, WEBHOOK_QUEUE } from '../../platform/queue/queue.constants';
import { WebhookEndpoints, WebhookSecretUnreadable } from '../../domain/webhooks/webhook-endpoints.service';
import { WebhookEventsRepository } from '../../domain/webhooks/webhook-events.repository';
import { WebhookOutbox } from '../../domain/webhooks/webhook-outbox.service';
import { CircuitOpen, WebhookSender } from './webhook-sender';

/** Attempts in flight per worker: a slow receiver holds one slot for up to WEBHOOK_TIMEOUT_MS. */
const DELIVERY_CONCURRENCY = 16;

/** A failed attempt; the job fails with it, so the board lists failed attempts with the reason. */
export class AttemptFailed extends Error {}

/**
 * Makes one attempt of one event (the job's), records its outcome in the outbox, and schedules the
 * next attempt per WEBHOOK_RETRY_SCHEDULE or drops the event after the last. Job data is only the
 * event id and attempt number: URL and secret are looked up here, so neither sits in Redis or on
 * the board.
 */
@Processor(WEBHOOK_QUEUE, { concurrency: DELIVERY_CONCURRENCY })
export class WebhookDeliveryProcessor extends WorkerHost {
  private readonly logger = new Logger('Webhooks');

  constructor(
    private readonly events: WebhookEventsRepository,
    private readonly endpoints: WebhookEndpoints,
    private readonly sender: WebhookSender,
    private readonly outbox: WebhookOutbox,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  async process(job: Job<DeliverWebhookPayload>, token?: string): Promise<string> {
    const { eventId, attempt } = job.data;
    const event = await this.events.find(eventId);
    // Delivered, dropped, or already past this attempt: a stale job has nothing to do.
    if (!event || event.status !== 'pending' || event.attempts !== attempt - 1) return 'stale';

    let endpoint;
    try {
      endpoint = await this.endpoints.forTenant(event.tenantId);
    } catch (err) {
      // A deployment fault, not the receiver's: the event keeps its attempts and the sweep retries it.
      if (err instanceof WebhookSecretUnreadable) this.warnUnreadable(`event ${eventId}: ${err.message}`);
      throw err;
    }
    if (!endpoint) {
      const error = 'no webhook is configured for the tenant any more';
      if (
        await this.events.recordAttempt(eventId, attempt, { delivered: false, error, retryInSeconds: null })
      )
        this.metrics.of(WEBHOOK_METRICS).delivery('dropped');
      throw new AttemptFailed(`dropped: ${error}`);
    }

    let result;
    try {
      result = await this.sender.send(endpoint, event);
    } catch (err) {
      if (!(err instanceof CircuitOpen)) throw err;
      // Postponed, not spent: the same attempt runs again once the circuit lets one through.
      await job.moveToDelayed(Date.now() + err.retryAfterMs + Math.random() * 1000, token);
      throw new DelayedError();
    }

    if (result.ok) {
      if (await this.events.recordAttempt(eventId, attempt, { delivered: true }))
        this.metrics.of(WEBHOOK_METRICS).delivery('delivered');
      return `delivered (HTTP ${result.status}) on attempt ${attempt}`;
    }

    const schedule = this.config.webhooks.retryScheduleSeconds;
    const retryInSeconds = attempt < schedule.length ? schedule[attempt] : null;
    const recorded = await this.events.recordAttempt(eventId, attempt, {
      delivered: false,
      error: result.error,
      retryInSeconds,
    });
    // Another run recorded this attempt first (a job handed over after a stall): its outcome stands.
    if (!recorded) return 'stale';
    if (retryInSeconds === null) {
      this.metrics.of(WEBHOOK_METRICS).delivery('dropped');
      this.logger.warn(
        `event ${eventId} (${event.type}) dropped after ${attempt} attempt(s): ${result.error}`,
      );
      throw new AttemptFailed(`attempt ${attempt} of ${schedule.length}: ${result.error}; dropped`);
    }
    this.metrics.of(WEBHOOK_METRICS).delivery('retried');
    // If this add is lost, the sweep enqueues the attempt once it is due.
    await this.outbox.enqueue(eventId, attempt + 1, retryInSeconds * 1000).catch(() => undefined);
    throw new AttemptFailed(
      `attempt ${attempt} of ${schedule.length}: ${result.error}; next in ${retryInSeconds} s`,
    );
  }

  private readonly warnQueueError = rateLimitedWarning(this.logger, 10_000);
  private readonly warnUnreadable = rateLimitedWarning(this.logger, 60_000);

  /** Redis trouble is retried by BullMQ and covered by the sweep: one warning per 10 s is enough. */
  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.warnQueueError(`webhook queue: ${err.message}`);
  }
}
