import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { WebhooksDomainModule } from '../webhooks/webhooks-domain.module';
import { BatchAdmissionService } from './batch-admission.service';
import { BatchLimitsRepository } from './batch-limits.repository';
import { BatchRequestEntity } from './batch-request.entity';
import { BatchStateService } from './batch-state.service';
import { BatchStatusCollector } from './batch-status.collector';
import { BatchEntity } from './batch.entity';

/** Batch state and rules shared by the API and the worker. */
@Module({
  imports: [TypeOrmModule.forFeature([BatchEntity, BatchRequestEntity]), WebhooksDomainModule],
  providers: [BatchStateService, BatchLimitsRepository, BatchAdmissionService, BatchStatusCollector],
  exports: [BatchStateService, BatchAdmissionService, TypeOrmModule],
})
export class BatchesDomainModule {}
