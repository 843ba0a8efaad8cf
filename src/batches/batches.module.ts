import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { FilesCoreModule } from '../files/files.module';
import { WebhooksCoreModule } from '../webhooks/webhooks.module';
import { BatchAdmissionService } from './batch-admission.service';
import { BatchLimitsRepository } from './batch-limits.repository';
import { BatchRequestEntity } from './batch-request.entity';
import { BatchStateService } from './batch-state.service';
import { BatchEntity } from './batch.entity';
import { BatchesController } from './batches.controller';
import { BatchesService } from './batches.service';

/** Batch state shared by the API and the worker. */
@Module({
  imports: [TypeOrmModule.forFeature([BatchEntity, BatchRequestEntity]), WebhooksCoreModule],
  providers: [BatchStateService, BatchLimitsRepository, BatchAdmissionService],
  exports: [BatchStateService, BatchAdmissionService, TypeOrmModule],
})
export class BatchesCoreModule {}

@Module({
  imports: [BatchesCoreModule, FilesCoreModule],
  controllers: [BatchesController],
  providers: [BatchesService],
})
export class BatchesModule {}
