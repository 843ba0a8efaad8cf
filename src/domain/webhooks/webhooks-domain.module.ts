import { Module } from '@nestjs/common';
import { SecretsModule } from '../../platform/secrets/secrets.module';
import { TenantWebhooksRepository } from './tenant-webhooks.repository';
import { TenantWebhooksService } from './tenant-webhooks.service';
import { WebhookEndpoints } from './webhook-endpoints.service';
import { WebhookBacklogCollector } from './webhook-backlog.collector';
import { WebhookEventsRepository } from './webhook-events.repository';
import { WebhookOutbox } from './webhook-outbox.service';

/**
 * The outbox, in every role: transitions write events to it, the worker's sweep reads it. And the
 * tenants' endpoints: TenantWebhooksService changes them (admin API), WebhookEndpoints answers
 * where and with which secrets (outbox, delivery).
 */
@Module({
  imports: [SecretsModule],
  providers: [
    WebhookEndpoints,
    WebhookEventsRepository,
    WebhookOutbox,
    WebhookBacklogCollector,
    TenantWebhooksRepository,
    TenantWebhooksService,
  ],
  exports: [WebhookEndpoints, WebhookEventsRepository, WebhookOutbox, TenantWebhooksService],
})
export class WebhooksDomainModule {}
