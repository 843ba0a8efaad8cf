import { Module } from '@nestjs/common';
import { BatchesDomainModule } from '../domain/batches/batches-domain.module';
import { FilesDomainModule } from '../domain/files/files-domain.module';
import { WebhooksDomainModule } from '../domain/webhooks/webhooks-domain.module';
import { WebhookDeliveryModule } from './webhooks/webhook-delivery.module';
import { BatchFinalizerService } from './output/batch-finalizer.service';
import { BatchRunnerService } from './runner/batch-runner.service';
import { ConcurrencyController } from './concurrency/concurrency-controller.service';
import { BatchInput } from './input/batch-input';
import { InputValidationService } from './input/input-validation.service';
import { ReconcilerService } from './runner/reconciler.service';
import { RunBatchProcessor } from './runner/run-batch.processor';
import { VllmClient } from './upstream/vllm.client';

/** The GPU worker role: drains batch jobs against vLLM, and delivers webhook events. */
@Module({
  imports: [BatchesDomainModule, FilesDomainModule, WebhooksDomainModule, WebhookDeliveryModule],
  providers: [
    VllmClient,
    BatchInput,
    InputValidationService,
    BatchFinalizerService,
    ConcurrencyController,
    BatchRunnerService,
    RunBatchProcessor,
    ReconcilerService,
  ],
  exports: [VllmClient, BatchRunnerService, ConcurrencyController],
})
export class WorkerModule {}
