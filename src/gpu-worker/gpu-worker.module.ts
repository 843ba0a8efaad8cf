import { Module } from '@nestjs/common';
import { BatchesCoreModule } from '../batches/batches.module';
import { FilesCoreModule } from '../files/files.module';
import { WebhookDeliveryModule, WebhooksCoreModule } from '../webhooks/webhooks.module';
import { BatchFinalizerService } from './batch-finalizer.service';
import { BatchRunnerService } from './batch-runner.service';
import { ConcurrencyController } from './concurrency/concurrency-controller.service';
import { InputValidationService } from './input-validation.service';
import { ReconcilerService } from './reconciler.service';
import { RunBatchProcessor } from './run-batch.processor';
import { VllmClient } from './vllm.client';

/** The GPU worker role: drains batch jobs against vLLM, and delivers webhook events. */
@Module({
  imports: [BatchesCoreModule, FilesCoreModule, WebhooksCoreModule, WebhookDeliveryModule],
  providers: [
    VllmClient,
    InputValidationService,
    BatchFinalizerService,
    ConcurrencyController,
    BatchRunnerService,
    RunBatchProcessor,
    ReconcilerService,
  ],
  exports: [VllmClient, BatchRunnerService, ConcurrencyController],
})
export class GpuWorkerModule {}
