import { Module } from '@nestjs/common';
import { WebhookEndpoints } from './webhook-endpoints.service';
import { WebhookBacklogCollector } from './webhook-backlog.collector';
import { WebhookEventsRepository } from './webhook-events.repository';
import { WebhookOutbox } from './webhook-outbox.service';

/** The outbox, in every role: transitions write events to it, the worker's sweep reads it. */
@Module({
  providers: [WebhookEndpoints, WebhookEventsRepository, WebhookOutbox, WebhookBacklogCollector],
  exports: [WebhookEndpoints, WebhookEventsRepository, WebhookOutbox],
})
export class WebhooksDomainModule {}
