import { Inject, Injectable, Logger } from '@nestjs/common';
import { BatchAdmissionService } from '../../domain/batches/batch-admission.service';
import { BatchStateService } from '../../domain/batches/batch-state.service';
import { TERMINAL_STATUSES } from '../../domain/batches/batch-status';
import { BatchEntity } from '../../domain/batches/batch.entity';
import { BatchResultRepository } from '../../domain/batches/batch-result.repository';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { FilesService } from '../../domain/files/files.service';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { BatchDispatch, StopReason } from '../dispatch/batch-dispatch';
import { BatchFinalizerService } from '../output/batch-finalizer.service';
import { ConcurrencyController } from '../concurrency/concurrency-controller.service';
import { FairLimiter } from '../dispatch/fair-limiter';
import type { Replica } from '../pool/replica';
import { BatchInput } from '../input/batch-input';
import { InputValidationService } from '../input/input-validation.service';
import { LineDispatcher } from '../dispatch/line-dispatcher';
import { ResultRecorder } from '../dispatch/result-recorder';

export interface BatchProgress {
  /** Percent of lines done. */
  progress: number;
  status: string;
  done: number;
  failed: number;
  total: number;
}

/** Thrown when a worker hands a batch back because it is shutting down; the queue retries the job. */
export class HandedBack extends Error {}

const MAX_DISPATCH_PASSES = 3;

/**
 * Drives one batch from wherever it stands to a final status. Every step is resumable: it reads
 * the state from PostgreSQL, so a job picked up again after a crash, a restart or a hand-back simply
 * continues (finished lines are skipped; unfinished ones run once more).
 */
@Injectable()
export class BatchRunnerService {
  private readonly logger = new Logger('BatchRunner');
  readonly limiter: FairLimiter<Replica>;
  private readonly lines: LineDispatcher;
  /** Dispatches under way, with their batch's model (the demand on the replicas serving it). */
  private readonly running = new Map<string, { dispatch: BatchDispatch; model: string }>();
  /** Batches this process is driving, so a second job for one of them joins instead of racing it. */
  private readonly processing = new Map<string, Promise<void>>();
  private shuttingDown = false;
  private shutdownGraceMs = 0;

  constructor(
    private readonly results: BatchResultRepository,
    private readonly input: BatchInput,
    private readonly state: BatchStateService,
    private readonly admission: BatchAdmissionService,
    private readonly files: FilesService,
    private readonly validation: InputValidationService,
    private readonly finalizer: BatchFinalizerService,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly concurrency: ConcurrencyController,
  ) {
    // The limiter's limit is set by the concurrency controller (adaptive, or fixed).
    this.limiter = concurrency.limiter;
    this.lines = new LineDispatcher(metrics, config);
    concurrency.setDemandSource({
      forModel: (model) => {
        let pending = 0;
        let batches = 0;
        for (const { dispatch, model: m } of this.running.values()) {
          if (m !== model) continue;
          pending += dispatch.pending;
          if (dispatch.pending > 0 || dispatch.active > 0) batches++;
        }
        return { pending, batches };
      },
    });
  }

  /** Stops every running dispatch; in-flight requests get `graceMs` to finish before being aborted. */
  handBackAll(graceMs: number): void {
    this.shuttingDown = true;
    this.shutdownGraceMs = graceMs;
    for (const { dispatch } of this.running.values()) dispatch.stop('shutdown', graceMs);
  }

  /**
   * A job for a batch this process is already driving joins that run. It happens when Redis lost
   * the first job (restarted without persistence) and the reconciler enqueued the batch again while
   * this worker was still running it: two dispatches of one batch in one process would send every
   * remaining line twice upstream (recorded once, but GPU time spent twice).
   */
  process(batchId: string): Promise<void> {
    const current = this.processing.get(batchId);
    if (current) return current;
    const run = this.run(batchId).finally(() => this.processing.delete(batchId));
    this.processing.set(batchId, run);
    return run;
  }

  /**
   * Where a batch stands, for the board's job view: `progress` (percent) draws its progress
   * circle, the rest shows in the job's Progress tab. Null when the batch is gone.
   */
  async progress(batchId: string): Promise<BatchProgress | null> {
    const b = await this.state.find(batchId);
    if (!b) return null;
    const done = b.completedRequests + b.failedRequests;
    const total = b.totalRequests;
    return {
      progress: total > 0 ? Math.floor((100 * done) / total) : 0,
      status: b.status,
      done,
      failed: b.failedRequests,
      total,
    };
  }

  private async run(batchId: string): Promise<void> {
    let batch = await this.state.find(batchId);
    if (!batch || TERMINAL_STATUSES.includes(batch.status)) return;

    if (batch.status === 'validating') batch = await this.validate(batch);
    if (!batch || TERMINAL_STATUSES.includes(batch.status)) return;

    if (batch.status === 'in_progress') {
      const stop = Date.now() >= batch.expiresAt.getTime() ? 'expired' : await this.dispatch(batch);
      if (stop === 'shutdown') throw new HandedBack(`worker stopping; ${batch.id} handed back`);
      if (stop === 'expired') return this.finish(batch, 'expired');
      if (stop === null) {
        const moved = await this.state.transition(batch.id, ['in_progress'], 'finalizing');
        if (moved) batch = moved;
      }
      batch = (await this.state.find(batch.id)) ?? batch;
    }
    if (batch.status === 'cancelling') return this.finish(batch, 'cancelled');
    if (batch.status === 'finalizing') return this.finish(batch, 'completed');
  }

  private async validate(batch: BatchEntity): Promise<BatchEntity | null> {
    const started = performance.now();
    const outcome = await this.validation.validate(batch);
    this.metrics.observeValidation((performance.now() - started) / 1000);
    if (!outcome.ok) {
      this.logger.log(`batch ${batch.id} failed validation with ${outcome.errors.length} error(s)`);
      return this.state.transition(batch.id, ['validating'], 'failed', { errors: outcome.errors });
    }
    // In progress with its tokens reserved, or failed with token_limit_exceeded; a cancel that won
    // the race leaves it cancelling, and the run carries on from there.
    return this.admission.admit(batch, outcome);
  }

  private async dispatch(batch: BatchEntity): Promise<StopReason | null> {
    for (let pass = 1; pass <= MAX_DISPATCH_PASSES; pass++) {
      if (this.shuttingDown) return 'shutdown';
      const done = await this.results.recordedLines(batch.id);
      if (done.size >= batch.totalRequests) return null;
      const run = new BatchDispatch(batch, {
        limiter: this.limiter,
        lines: this.lines,
        recorder: new ResultRecorder(this.results, batch.id),
        input: this.input.requests(batch, done),
        remaining: batch.totalRequests - done.size,
        currentStatus: async () => (await this.state.find(batch.id))?.status ?? null,
        onInflightChange: () => this.metrics.setInflight(this.limiter.active, this.limiter.limit),
        onLine: (model, shape) => this.concurrency.noteLine(model, shape),
        onReady: () => this.concurrency.kick(),
      });
      this.running.set(batch.id, { dispatch: run, model: batch.model ?? '' });
      // A shutdown that began while this pass was being set up must stop it too.
      if (this.shuttingDown) run.stop('shutdown', this.shutdownGraceMs);
      try {
        const stop = await run.run();
        if (stop) return stop;
      } finally {
        this.running.delete(batch.id);
      }
    }
    // Lines still missing after several passes hit an unexpected error each time; report them
    // rather than loop forever.
    await this.finalizer.recordUnrun(batch, 'internal_error', 'The request could not be dispatched.');
    return null;
  }

  private async finish(batch: BatchEntity, final: 'completed' | 'cancelled' | 'expired'): Promise<void> {
    const started = performance.now();
    if (final === 'cancelled') {
      await this.finalizer.recordUnrun(
        batch,
        'batch_cancelled',
        'The batch was cancelled before this request ran.',
      );
    } else if (final === 'expired') {
      await this.finalizer.recordUnrun(
        batch,
        'batch_expired',
        'This request could not be executed before the completion window expired.',
      );
    }
    const { outputFileId, errorFileId } = await this.finalizer.writeFiles(batch);
    const from = {
      cancelled: ['cancelling'],
      expired: ['in_progress', 'finalizing'],
      completed: ['finalizing'],
    } as const;
    const done = await this.state.transition(batch.id, from[final], final, { outputFileId, errorFileId });
    if (!done) {
      // Someone else finished it (or it was cancelled meanwhile): our files are not referenced.
      for (const id of [outputFileId, errorFileId])
        if (id) await this.files.delete(batch.tenantId, id).catch(() => undefined);
      const now = await this.state.find(batch.id);
      if (now && !TERMINAL_STATUSES.includes(now.status)) return this.run(batch.id);
      return;
    }
    // Best effort: a failure leaves the bodies until the batch's files are gone (reconciler).
    await this.results
      .dropBodies(batch.id)
      .catch((err: Error) =>
        this.logger.warn(`batch ${batch.id}: keeping its result bodies (${err.message})`),
      );
    this.metrics.observeFinalize((performance.now() - started) / 1000);
    this.logger.log(
      `batch ${batch.id} ${final}: ${done.completedRequests} ok, ${done.failedRequests} failed of ${done.totalRequests}`,
    );
  }
}
