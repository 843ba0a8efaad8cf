import { Module } from '@nestjs/common';
import { WebhooksDomainModule } from '../../domain/webhooks/webhooks-domain.module';
import { WebhookDeliveryProcessor } from './webhook-delivery.processor';
import { WebhookSender } from './webhook-sender';

/** Delivery, in the worker roles: signs and sends attempts from the webhooks queue. */
@Module({
  imports: [WebhooksDomainModule],
  providers: [WebhookSender, WebhookDeliveryProcessor],
})
export class WebhookDeliveryModule {}
