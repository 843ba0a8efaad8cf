import { Module } from '@nestjs/common';
import { BatchesDomainModule } from '../domain/batches/batches-domain.module';
import { FilesDomainModule } from '../domain/files/files-domain.module';
import { ModelsDomainModule } from '../domain/models/models-domain.module';
import { WebhooksDomainModule } from '../domain/webhooks/webhooks-domain.module';
import { WebhookDeliveryModule } from './webhooks/webhook-delivery.module';
import { BatchFinalizerService } from './output/batch-finalizer.service';
import { BatchRunnerService } from './runner/batch-runner.service';
import { ConcurrencyController } from './concurrency/concurrency-controller.service';
import { BatchInput } from './input/batch-input';
import { InputValidationService } from './input/input-validation.service';
import { ReconcilerService } from './runner/reconciler.service';
import { RunBatchProcessor } from './runner/run-batch.processor';
import { UPSTREAM_SOURCE, UpstreamPool } from './pool/upstream-pool.service';
import { createUpstreamSource } from './upstream/sources';
import { APP_CONFIG, AppConfig } from '../platform/config/app-config';

/** The GPU worker role: drains batch jobs against vLLM, and delivers webhook events. */
@Module({
  imports: [
    BatchesDomainModule,
    FilesDomainModule,
    ModelsDomainModule,
    WebhooksDomainModule,
    WebhookDeliveryModule,
  ],
  providers: [
    {
      provide: UPSTREAM_SOURCE,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => createUpstreamSource(config),
    },
    UpstreamPool,
    BatchInput,
    InputValidationService,
    BatchFinalizerService,
    ConcurrencyController,
    BatchRunnerService,
    RunBatchProcessor,
    ReconcilerService,
  ],
  exports: [UpstreamPool, BatchRunnerService, ConcurrencyController],
})
export class WorkerModule {}
