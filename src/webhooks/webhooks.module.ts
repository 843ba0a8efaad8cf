import { Module } from '@nestjs/common';
import { WebhookDeliveryProcessor } from './webhook-delivery.processor';
import { WebhookEndpoints } from './webhook-endpoints.service';
import { WebhookEventsRepository } from './webhook-events.repository';
import { WebhookOutbox } from './webhook-outbox.service';
import { WebhookSender } from './webhook-sender';

/** The outbox, in every role: transitions write events to it, the worker's sweep reads it. */
@Module({
  providers: [WebhookEndpoints, WebhookEventsRepository, WebhookOutbox],
  exports: [WebhookEndpoints, WebhookEventsRepository, WebhookOutbox],
})
export class WebhooksCoreModule {}

/** Delivery, in the worker roles: signs and sends attempts from the webhooks queue. */
@Module({
  imports: [WebhooksCoreModule],
  providers: [WebhookSender, WebhookDeliveryProcessor],
})
export class WebhookDeliveryModule {}
