import { Module } from '@nestjs/common';
import { TenantsDomainModule } from '../tenants/tenants-domain.module';
import { WebhooksDomainModule } from '../webhooks/webhooks-domain.module';
import { BatchUsageRepository } from './batch-usage.repository';
import { BatchAdmissionService } from './batch-admission.service';
import { BatchLimitsRepository } from './batch-limits.repository';
import { BatchResultRepository } from './batch-result.repository';
import { BatchStateService } from './batch-state.service';
import { BatchStatusCollector } from './batch-status.collector';
import { BatchRepository } from './batch.repository';

/** Batch state and rules shared by the API and the worker. */
@Module({
  imports: [WebhooksDomainModule, TenantsDomainModule],
  providers: [
    BatchRepository,
    BatchResultRepository,
    BatchStateService,
    BatchLimitsRepository,
    BatchAdmissionService,
    BatchStatusCollector,
    BatchUsageRepository,
  ],
  exports: [
    BatchRepository,
    BatchResultRepository,
    BatchStateService,
    BatchAdmissionService,
    BatchUsageRepository,
  ],
})
export class BatchesDomainModule {}
