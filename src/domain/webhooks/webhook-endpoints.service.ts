import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig, WebhookEndpoint } from '../../platform/config/app-config';

/**
 * Where a tenant's events go and the secret that signs them. Read from WEBHOOKS today; the one
 * place to change when tenants manage their own endpoints.
 */
@Injectable()
export class WebhookEndpoints {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  forTenant(tenantId: string): WebhookEndpoint | null {
    return Object.hasOwn(this.config.webhooks.endpoints, tenantId)
      ? this.config.webhooks.endpoints[tenantId]
      : null;
  }
}
