import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { BatchEntity, BatchErrorItem } from '../../domain/batches/batch.entity';
import { checkInputFile, fileError, modelNotServed } from '../../domain/batches/input-file-check';
import { ModelCatalogueRepository } from '../../domain/models/model-catalogue.repository';
import { UpstreamPool } from '../pool/upstream-pool.service';
import { BatchInput } from './batch-input';

export type ValidationOutcome =
  | { ok: true; total: number; model: string; estimatedTokens: number }
  | { ok: false; errors: BatchErrorItem[] };

/** Streams a batch's input file once, checking every line, the file as a whole and the model. */
@Injectable()
export class InputValidationService {
  constructor(
    private readonly input: BatchInput,
    private readonly pool: UpstreamPool,
    private readonly catalogue: ModelCatalogueRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async validate(
    batch: Pick<BatchEntity, 'tenantId' | 'inputFileId' | 'endpoint'>,
  ): Promise<ValidationOutcome> {
    const { maxLines, maxErrorsReported, defaultMaxTokens } = this.config.batches;
    let lines;
    try {
      lines = await this.input.open(batch);
    } catch {
      const message = `The input file ${batch.inputFileId} no longer exists.`;
      return { ok: false, errors: [fileError('invalid_request', message, 'input_file_id')] };
    }
    const check = await checkInputFile(lines, {
      endpoint: batch.endpoint,
      maxLines,
      maxErrors: maxErrorsReported,
      defaultMaxTokens,
    });
    if (!check.ok) return { ok: false, errors: check.errors };

    const { model } = check;
    if (!(await this.isKnown(model))) {
      const available = await this.available();
      return { ok: false, errors: [modelNotServed(model, available, check.modelFirstLine)] };
    }
    return { ok: true, total: check.requests, model, estimatedTokens: check.estimatedTokens };
  }

  /**
   * A model some replica serves or has served (the catalogue, which outlives restarts and
   * outages), or that the upstreams file names. A model nobody was known to serve may be new on a
   * replica: the replicas are asked again first. A known model whose every replica is down is
   * accepted; its lines wait for one.
   */
  private async isKnown(model: string): Promise<boolean> {
    const inPool = (): boolean =>
      this.pool.modelsServed().includes(model) || this.pool.modelsConfigured().includes(model);
    if (inPool() || (await this.catalogue.find(model)) !== null) return true;
    await this.pool.refreshModels();
    return inPool();
  }

  /** What the error message offers instead: the models served now. */
  private async available(): Promise<string[]> {
    const now = await this.catalogue.servedNow(this.config.models.freshMs).catch(() => []);
    return [...new Set([...this.pool.modelsServed(), ...now.map((m) => m.id)])].sort();
  }
}
