import { Inject, Injectable } from '@nestjs/common';
import { ApiError } from '../../common/api-error';
import { Clock } from '../../common/clock';
import { isWellFormedId, newBatchId } from '../../common/ids';
import { ListPage, parseLimit, toListPage } from '../../common/pagination';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { FilesService } from '../../domain/files/files.service';
import { BATCH_METRICS } from '../../domain/batches/batch.metrics';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { BatchQueueProducer } from '../../platform/queue/batch-queue.producer';
import { BatchAdmissionService } from '../../domain/batches/batch-admission.service';
import { validateMetadata } from '../../domain/batches/batch-metadata';
import { BatchStateService } from '../../domain/batches/batch-state.service';
import { endpointRefusal } from '../../domain/batches/batch-endpoints';
import { BatchEndpoint } from '../../common/batch-endpoints';
import { BatchEntity } from '../../domain/batches/batch.entity';
import { BatchRepository } from '../../domain/batches/batch.repository';
import { BatchObjectDto, CreateBatchDto } from './batch.dto';

export const batchNotFound = (id: string): ApiError =>
  ApiError.notFound(`No such Batch object: ${id}`, 'batch_id');

@Injectable()
export class BatchesService {
  constructor(
    private readonly batches: BatchRepository,
    private readonly files: FilesService,
    private readonly state: BatchStateService,
    private readonly admission: BatchAdmissionService,
    private readonly queue: BatchQueueProducer,
    private readonly metrics: MetricsService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async create(tenantId: string, dto: CreateBatchDto): Promise<BatchObjectDto> {
    const refusal = endpointRefusal(dto.endpoint, this.config.batches.endpoints);
    if (refusal !== null) throw ApiError.badRequest(refusal, 'endpoint', 'invalid_value');
    const windowSeconds = this.config.batches.completionWindows[dto.completion_window];
    if (windowSeconds === undefined) {
      throw ApiError.badRequest(
        `Invalid 'completion_window': '${dto.completion_window.slice(0, 20)}'. Supported: ${Object.keys(this.config.batches.completionWindows).join(', ')}.`,
        'completion_window',
        'invalid_value',
      );
    }
    const metadata = validateMetadata(dto.metadata);
    const file = await this.files.find(tenantId, dto.input_file_id).catch(() => {
      throw ApiError.notFound(`No such File object: ${dto.input_file_id.slice(0, 64)}`, 'input_file_id');
    });
    if (file.purpose !== 'batch') {
      throw ApiError.badRequest(
        `File ${file.id} has purpose '${file.purpose}'; batch input files must be uploaded with purpose 'batch'.`,
        'input_file_id',
        'invalid_value',
      );
    }
    const now = this.clock.now();
    const batch: BatchEntity = {
      id: newBatchId(),
      tenantId,
      endpoint: dto.endpoint as BatchEndpoint,
      inputFileId: file.id,
      completionWindow: dto.completion_window,
      status: 'validating',
      model: null,
      outputFileId: null,
      errorFileId: null,
      errors: null,
      metadata,
      outputExpiresAfter: dto.output_expires_after
        ? { anchor: 'created_at', seconds: dto.output_expires_after.seconds }
        : null,
      totalRequests: 0,
      completedRequests: 0,
      failedRequests: 0,
      inputTokens: 0,
      cachedTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
      estimatedTokens: null,
      createdAt: now,
      inProgressAt: null,
      expiresAt: new Date(now.getTime() + windowSeconds * 1000),
      finalizingAt: null,
      completedAt: null,
      failedAt: null,
      expiredAt: null,
      cancellingAt: null,
      cancelledAt: null,
    };
    // Row first, then the job: if enqueueing fails the reconciler finds the row and enqueues it.
    await this.admission.insertNew(batch);
    this.metrics.of(BATCH_METRICS).transition(null, 'validating');
    await this.queue.enqueue(batch.id).catch(() => undefined);
    return BatchObjectDto.from(batch);
  }

  async retrieve(tenantId: string, id: string): Promise<BatchObjectDto> {
    return BatchObjectDto.from(await this.find(tenantId, id));
  }

  private async find(tenantId: string, id: string): Promise<BatchEntity> {
    if (!isWellFormedId(id, 'batch_')) throw batchNotFound(id.slice(0, 64));
    const batch = await this.batches.findForTenant(tenantId, id);
    if (!batch) throw batchNotFound(id);
    return batch;
  }

  async list(tenantId: string, query: { after?: string; limit?: string }): Promise<ListPage<BatchObjectDto>> {
    const limit = parseLimit(query.limit, 20, 100);
    const cursor = query.after
      ? await this.find(tenantId, query.after).catch(() => {
          throw ApiError.badRequest(
            `Invalid 'after': no such batch '${query.after?.slice(0, 64)}'.`,
            'after',
            'invalid_value',
          );
        })
      : null;
    const rows = await this.batches.listForTenant(tenantId, limit + 1, cursor);
    return toListPage(rows.map(BatchObjectDto.from), limit);
  }

  /**
   * Moves the batch to `cancelling`; the worker running it sees that within a second, aborts its
   * in-flight upstream requests and writes the partial results. The job is enqueued again in case no
   * worker holds it (e.g. it was still waiting, or its worker died).
   */
  async cancel(tenantId: string, id: string): Promise<BatchObjectDto> {
    const batch = await this.find(tenantId, id);
    if (batch.status === 'cancelling' || batch.status === 'cancelled') return BatchObjectDto.from(batch);
    const updated = await this.state.transition(id, ['validating', 'in_progress'], 'cancelling');
    if (!updated) {
      const now = await this.find(tenantId, id);
      if (now.status === 'cancelling' || now.status === 'cancelled') return BatchObjectDto.from(now);
      throw ApiError.conflict(`Cannot cancel a batch with status '${now.status}'.`, 'batch_id');
    }
    await this.queue.enqueue(id).catch(() => undefined);
    return BatchObjectDto.from(updated);
  }
}
