import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { newWebhookEventId } from '../../common/ids';
import { withTimeout } from '../../common/with-timeout';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import {
  DeliverWebhookPayload,
  JOB_DELIVER_WEBHOOK,
  WEBHOOK_QUEUE,
  webhookJobId,
  webhookJobOptions,
} from '../../platform/queue/queue.constants';
import { WebhookEndpoints } from './webhook-endpoints.service';
import { NewWebhookEvent, WebhookEventType, webhookPayload } from './webhook-event';
import { WebhookEventsRepository } from './webhook-events.repository';

/** How long a post-commit enqueue may wait for Redis; the sweep covers an enqueue that never lands. */
const ENQUEUE_TIMEOUT_MS = 2_000;
/** Due events re-enqueued per sweep; the next sweep takes the rest. */
const SWEEP_LIMIT = 1000;

/**
 * The outbox's two feeds into the webhooks queue. PostgreSQL holds every event (written with its
 * transition); Redis only schedules attempts. Right after a transition commits, its first attempt is
 * enqueued best-effort; the sweep (run by the worker's reconciler) enqueues every due event that has
 * no job, so an event outlives a worker crash between commit and enqueue, and a Redis that lost its
 * data. Job ids are event id + attempt number, so the two feeds never add one attempt twice.
 */
@Injectable()
export class WebhookOutbox {
  private readonly logger = new Logger('Webhooks');

  constructor(
    private readonly endpoints: WebhookEndpoints,
    private readonly events: WebhookEventsRepository,
    @InjectQueue(WEBHOOK_QUEUE) private readonly queue: Queue<DeliverWebhookPayload>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The event of type `type` about `batchId`, or null when the tenant has no webhook. */
  async eventFor(
    tenantId: string,
    batchId: string,
    type: WebhookEventType,
    at: Date,
  ): Promise<NewWebhookEvent | null> {
    if (!(await this.endpoints.has(tenantId))) return null;
    const id = newWebhookEventId();
    const firstDelayMs = this.config.webhooks.retryScheduleSeconds[0] * 1000;
    return {
      id,
      tenantId,
      batchId,
      type,
      createdAt: at,
      payload: webhookPayload(id, type, at, batchId),
      firstAttemptAt: new Date(at.getTime() + firstDelayMs),
    };
  }

  /** After the transition committed: schedule the first attempt, without ever failing the caller. */
  announce(event: NewWebhookEvent): void {
    this.enqueue(event.id, 1, event.firstAttemptAt.getTime() - Date.now()).catch((err: Error) =>
      this.logger.warn(`event ${event.id} waits for the sweep: ${err.message}`),
    );
  }

  async enqueue(eventId: string, attempt: number, delayMs: number): Promise<void> {
    await withTimeout(
      this.queue.add(JOB_DELIVER_WEBHOOK, { eventId, attempt }, webhookJobOptions(eventId, attempt, delayMs)),
      ENQUEUE_TIMEOUT_MS,
      'enqueueing a webhook attempt',
    );
  }

  /**
   * Enqueues every due pending event whose next attempt has no live job. A finished job for that
   * attempt (it failed before recording its outcome, e.g. PostgreSQL was away) is replaced.
   */
  async sweep(): Promise<number> {
    let requeued = 0;
    for (const { id, attempts } of await this.events.due(SWEEP_LIMIT)) {
      const attempt = attempts + 1;
      const job = await this.queue.getJob(webhookJobId(id, attempt));
      if (job) {
        const state = await job.getState();
        if (state !== 'completed' && state !== 'failed') continue;
        await job.remove();
      }
      await this.enqueue(id, attempt, 0);
      requeued++;
    }
    if (requeued > 0) this.logger.log(`enqueued ${requeued} due webhook event(s) that had no job`);
    return requeued;
  }
}
