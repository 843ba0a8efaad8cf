import { Injectable, Logger } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { ApiError } from '../../common/api-error';
import { TenantDirectory } from '../tenants/tenant-directory.service';
import { BatchLimitsRepository } from './batch-limits.repository';
import { BatchStateService } from './batch-state.service';
import { BatchEntity, BatchErrorItem } from './batch.entity';
import { BatchRepository } from './batch.repository';

/** What validation learned about a batch that passed it. */
export interface ValidatedInput {
  model: string;
  total: number;
  estimatedTokens: number;
}

const formatCount = (n: number): string => n.toLocaleString('en-US');

/**
 * The per-tenant limits, at the two points they apply: creating a batch (max active batches) and
 * admitting a validated batch to run (enqueued tokens, per tenant and model). Each tenant's values
 * come from TenantDirectory: its own settings, else BATCH_MAX_ACTIVE_PER_TENANT and
 * BATCH_ENQUEUED_TOKEN_LIMIT.
 */
@Injectable()
export class BatchAdmissionService {
  private readonly logger = new Logger('BatchAdmission');

  constructor(
    private readonly limits: BatchLimitsRepository,
    private readonly batches: BatchRepository,
    private readonly state: BatchStateService,
    private readonly tenants: TenantDirectory,
  ) {}

  /** Inserts a new batch row, or answers 429 when the tenant already has its most unfinished batches. */
  async insertNew(batch: BatchEntity): Promise<void> {
    const max = (await this.tenants.settingsFor(batch.tenantId)).maxActiveBatches;
    const outcome = await this.limits.admitCreate(batch.tenantId, max, (m) => this.batches.insert(batch, m));
    if (!outcome.admitted) {
      // No Retry-After (a slot frees when a batch finishes, which may take hours), and
      // x-should-retry tells the OpenAI SDKs not to retry it on their own.
      throw new ApiError(
        429,
        `Active batch limit reached: this tenant has ${outcome.current} unfinished batches and may have at most ${max}. ` +
          'Please try again once some of them have completed, or cancel some.',
        'requests',
        'active_batch_limit_reached',
        null,
        { 'x-should-retry': 'false' },
      );
    }
  }

  /**
   * Moves a validated batch to in_progress with its token estimate reserved, or fails it with
   * `token_limit_exceeded` when the tenant's other unfinished batches for the model already hold
   * too much. Returns the batch as it now stands (null or another status: a cancel won the race).
   */
  async admit(batch: BatchEntity, input: ValidatedInput): Promise<BatchEntity | null> {
    const limit = (await this.tenants.settingsFor(batch.tenantId)).enqueuedTokenLimit;
    const changes = {
      model: input.model,
      totalRequests: input.total,
      estimatedTokens: input.estimatedTokens,
    };
    const start = (m: EntityManager) =>
      this.state.transitionIn(m, batch.id, ['validating'], 'in_progress', changes);
    const outcome = await this.limits.reserveTokens(batch, input.model, input.estimatedTokens, limit, start);
    if (outcome.admitted) return outcome.value ?? this.state.find(batch.id);
    this.logger.log(
      `batch ${batch.id} refused: ${input.estimatedTokens} estimated tokens over the limit of ${limit} for ${input.model} (${outcome.current} reserved)`,
    );
    // Failing needs no lock: the decision was made under it, and failing frees nothing.
    const failed = await this.state.transition(batch.id, ['validating'], 'failed', {
      model: input.model,
      totalRequests: input.total,
      errors: [tokenLimitError(batch.tenantId, input.model, limit)],
    });
    return failed ?? this.state.find(batch.id);
  }
}

/** OpenAI's error for a batch over the enqueued-token limit, with "tenant" for "organization". */
export function tokenLimitError(tenantId: string, model: string, limit: number): BatchErrorItem {
  return {
    code: 'token_limit_exceeded',
    message:
      `Enqueued token limit reached for ${model} in tenant ${tenantId}. Limit: ${formatCount(limit)} enqueued tokens. ` +
      'Please try again once some in_progress batches have been completed.',
    param: null,
    line: null,
  };
}
