import { Module } from '@nestjs/common';
import { AdminAuditRepository } from './admin-audit.repository';
import { ApiKeyAdminService } from './api-key-admin.service';
import { ApiKeysRepository } from './api-keys.repository';
import { KeyDirectory } from './key-directory.service';
import { TenantAdminService } from './tenant-admin.service';
import { TenantDirectory } from './tenant-directory.service';
import { TenantsRepository } from './tenants.repository';
import { WebhooksDomainModule } from '../webhooks/webhooks-domain.module';

/** Tenants, their keys and the admin audit trail; the directories serve the API and the worker alike. */
@Module({
  imports: [WebhooksDomainModule],
  providers: [
    TenantsRepository,
    ApiKeysRepository,
    AdminAuditRepository,
    TenantDirectory,
    KeyDirectory,
    TenantAdminService,
    ApiKeyAdminService,
  ],
  exports: [TenantDirectory, KeyDirectory, TenantAdminService, ApiKeyAdminService, AdminAuditRepository],
})
export class TenantsDomainModule {}
