import { Module } from '@nestjs/common';
import { WebhookEndpoints } from './webhook-endpoints.service';
import { WebhookEventsRepository } from './webhook-events.repository';
import { WebhookOutbox } from './webhook-outbox.service';

/** The outbox, in every role: transitions write events to it, the worker's sweep reads it. */
@Module({
  providers: [WebhookEndpoints, WebhookEventsRepository, WebhookOutbox],
  exports: [WebhookEndpoints, WebhookEventsRepository, WebhookOutbox],
})
export class WebhooksDomainModule {}
