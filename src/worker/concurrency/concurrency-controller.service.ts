import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  OnModuleInit,
  Optional,
} from '@nestjs/common';
import type IORedis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { rateLimitedWarning } from '../../common/rate-limited-warning';
import { withTimeout } from '../../common/with-timeout';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { createFailFastRedis, waitUntilReady } from '../../platform/redis/redis-client';
import { FairLimiter } from '../dispatch/fair-limiter';
import type { DispatchFeedback } from '../dispatch/line-dispatcher';
import { ConcurrencyLaw, LawDecision } from './control-law';
import { CONCURRENCY_METRICS } from './concurrency.metrics';
import {
  CoordinatorStore,
  coordinationPrefix,
  PublishedState,
  RedisCoordinatorStore,
  splitLimit,
  WorkerReport,
} from './coordinator';
import type { LineShape } from '../dispatch/line-shape';
import { lawSignals, ReportTracker } from './leader-aggregation';
import { LocalSignals } from './local-signals';
import { HttpVllmMetricsSource, VllmMetricsSource, VllmSample } from './vllm-metrics';

/** Injection token for the vLLM /metrics adapter (tests swap it). */
export const VLLM_METRICS_SOURCE = Symbol('VLLM_METRICS_SOURCE');
/** Injection token for the coordination store (tests swap it); default: Redis. */
export const COORDINATOR_STORE = Symbol('COORDINATOR_STORE');

/** One control round per tick: scrape, law, publish. */
export const TICK_MS = 1000;
/** A published state younger than this is continued by a new leader. */
const STATE_FRESH_MS = 10_000;
/** How long a batch waits for the first control round before sending anyway. */
const KICK_WAIT_MS = 1000;
const WARN_INTERVAL_MS = 30_000;
/** How long the start waits for the coordination Redis before running without it. */
const REDIS_WAIT_MS = 3000;

/** Where the controller reads the work waiting in this process (set by BatchRunnerService). */
export interface LocalDemand {
  /** Lines read ahead, not yet sent. */
  pending: number;
  /** Batches with lines left to send or in flight. */
  batches: number;
}

export interface ControllerSnapshot {
  mode: 'adaptive' | 'fixed';
  leader: boolean;
  globalLimit: number;
  share: number;
  reason: string;
  workers: number;
  sample: VllmSample | null;
}

/**
 * The adaptive in-flight limit of this worker process (see ConcurrencyLaw for the control law).
 *
 * One limit per vLLM endpoint, global across worker processes: every worker heartbeats its demand
 * and dispatch outcomes to Redis each tick; one of them, the leader (a lease taken with SET NX PX),
 * scrapes vLLM's /metrics, runs the law on the sum of every worker's signals and publishes the
 * global limit with each worker's share (weighted water-filling, see splitLimit). Each worker sets
 * its FairLimiter to its share. If the leader dies, its lease expires within LEADER_TTL_MS and the
 * next heartbeat of another worker takes over, continuing from the published limit. While Redis is
 * unreachable a worker keeps its last share and may only lower it by running the law on its own
 * signals. WORKER_CONCURRENCY_MODE=fixed bypasses all this: WORKER_FIXED_INFLIGHT per process.
 */
@Injectable()
export class ConcurrencyController
  implements DispatchFeedback, OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown
{
  readonly limiter: FairLimiter;
  private readonly logger = new Logger('Concurrency');
  private readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly adaptive: boolean;
  private readonly law: ConcurrencyLaw;
  private readonly source: VllmMetricsSource;
  private readonly store: CoordinatorStore | null;
  private readonly redis: IORedis | null = null;
  private demand: () => LocalDemand = () => ({ pending: 0, batches: 0 });

  private readonly local = new LocalSignals();

  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private stopped = false;
  private leader = false;
  private state: PublishedState | null = null;
  private lastSample: VllmSample | null = null;
  private scrapeOk: boolean | null = null;
  private readonly tracker = new ReportTracker();
  private lastShare: number | null = null;
  private readonly warn = rateLimitedWarning(this.logger, WARN_INTERVAL_MS);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    @Optional() @Inject(VLLM_METRICS_SOURCE) source?: VllmMetricsSource,
    @Optional() @Inject(COORDINATOR_STORE) store?: CoordinatorStore,
  ) {
    const w = config.worker;
    this.adaptive = w.concurrencyMode === 'adaptive';
    this.law = new ConcurrencyLaw(w.minInflight, w.maxInflight);
    this.limiter = new FairLimiter(this.adaptive ? this.law.limit : w.fixedInflight);
    this.source = source ?? new HttpVllmMetricsSource(config.vllmMetricsUrl, config.vllmApiKey);
    if (store) this.store = store;
    else if (this.adaptive) {
      this.redis = createFailFastRedis(config.redisUrl, {
        onError: (err) => this.warn(`coordination Redis unreachable: ${err.message}`),
      });
      this.store = new RedisCoordinatorStore(this.redis, this.id, coordinationPrefix(config));
    } else this.store = null;
    this.metrics.setInflight(0, this.limiter.limit);
  }

  /** The first rounds would find no coordination: wait for the connection, briefly. */
  async onModuleInit(): Promise<void> {
    if (this.redis) await waitUntilReady(this.redis, REDIS_WAIT_MS);
  }

  onApplicationBootstrap(): void {
    this.schedule(0);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.round?.catch(() => undefined);
    this.leader = false;
    if (this.store && this.adaptive) await this.store.leave(this.id).catch(() => undefined);
    this.redis?.disconnect();
  }

  /** BatchRunnerService tells where to read the lines waiting in this process. */
  setDemandSource(demand: () => LocalDemand): void {
    this.demand = demand;
  }

  // DispatchFeedback ----------------------------------------------------------------------------

  answered(ms: number, promptTokens: number, completionTokens: number): void {
    this.local.answered(ms, promptTokens, completionTokens);
  }

  overloaded(): void {
    this.local.overloaded();
  }

  timedOut(): void {
    this.local.timedOut();
  }

  /** A line was read for dispatch: its estimated size feeds the estimate of the limit. */
  noteLine(shape: LineShape): void {
    this.local.noteLine(shape);
  }

  /**
   * A batch is about to start sending: run a control round now rather than within a second, so
   * the first requests go out under a limit estimated for this batch. Bounded wait.
   */
  async kick(): Promise<void> {
    if (!this.adaptive || this.stopped) return;
    const run = (async () => {
      await this.round?.catch(() => undefined);
      await this.runRound();
    })();
    await withTimeout(run, KICK_WAIT_MS, 'the first control round').catch(() => undefined);
  }

  snapshot(): ControllerSnapshot {
    return {
      mode: this.adaptive ? 'adaptive' : 'fixed',
      leader: this.leader,
      globalLimit: this.adaptive ? (this.state?.limit ?? this.law.limit) : this.limiter.limit,
      share: this.limiter.limit,
      reason: this.adaptive ? (this.state?.reason ?? this.law.reason) : 'fixed',
      workers: this.state?.workers ?? 1,
      sample: this.lastSample,
    };
  }

  // Rounds --------------------------------------------------------------------------------------

  private schedule(delay: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runRound().finally(() => this.schedule(TICK_MS));
    }, delay);
    this.timer.unref();
  }

  private runRound(): Promise<void> {
    if (this.round) return this.round;
    this.round = (this.adaptive ? this.adaptiveRound() : this.fixedRound())
      .catch((err: unknown) => this.warn(`control round failed: ${(err as Error).message}`))
      .finally(() => {
        this.round = null;
      });
    return this.round;
  }

  /** Fixed mode: the limit never moves; vLLM's gauges are still scraped for visibility. */
  private async fixedRound(): Promise<void> {
    const sample = await this.scrape();
    this.metrics.of(CONCURRENCY_METRICS).state({
      globalLimit: this.limiter.limit,
      reason: 'fixed',
      leader: false,
      workers: 1,
      kvUsage: sample?.kvUsage ?? null,
      waiting: sample?.waiting ?? null,
      running: sample?.running ?? null,
    });
  }

  private async adaptiveRound(): Promise<void> {
    const report = this.report();
    let beat: { leader: boolean; state: PublishedState | null };
    try {
      beat = await (this.store as CoordinatorStore).heartbeat(report);
    } catch (err) {
      return this.standalone(report, err as Error);
    }
    if (beat.leader) return this.lead(report, beat.state);
    if (this.leader) this.logger.log(`no longer the concurrency leader`);
    this.leader = false;
    if (beat.state) this.apply(beat.state);
  }

  /** The leader's round: gather every worker's report, scrape vLLM, run the law, publish. */
  private async lead(own: WorkerReport, previous: PublishedState | null): Promise<void> {
    const store = this.store as CoordinatorStore;
    if (!this.leader) {
      this.leader = true;
      this.tracker.clear();
      const recent = previous && Date.now() - previous.at < STATE_FRESH_MS;
      if (recent && previous.leader !== this.id) this.law.restore(previous.limit, previous.fresh);
      this.logger.log(
        `concurrency leader for ${this.config.vllmBaseUrl}` +
          (recent ? ` (continuing from limit ${previous.limit})` : ''),
      );
    }
    const reports = (await store.reports()).filter((r) => r.id !== own.id);
    reports.push(own);
    const now = Date.now();
    const { live, stale, outcomes } = this.tracker.aggregate(reports, now);
    await store.drop(stale).catch(() => undefined);

    const sample = await this.scrape();
    const signals = lawSignals(sample, live, outcomes);
    const decision = this.law.tick(signals);
    const shares = splitLimit(
      decision.limit,
      live.map((r) => ({
        id: r.id,
        wantsMore: r.queued > 0 || r.pending > 0,
        inflight: r.inflight,
        batches: r.batches,
      })),
      this.config.worker.minInflight,
    );
    const state: PublishedState = {
      leader: this.id,
      at: now,
      limit: decision.limit,
      reason: this.law.reason,
      fresh: this.law.isFresh,
      shares,
      workers: live.length,
      kvUsage: sample?.kvUsage ?? null,
      waiting: sample?.waiting ?? null,
      running: sample?.running ?? null,
      metrics: sample !== null,
    };
    if (!(await store.publish(state))) {
      this.leader = false;
      return;
    }
    this.noteDecision(decision, live.length);
    this.apply(state);
  }

  /** Redis is unreachable: keep the last share, lowering it if the law on local signals says so. */
  private async standalone(own: WorkerReport, err: Error): Promise<void> {
    this.warn(`cannot coordinate the in-flight limit through Redis (${err.message}); using local signals`);
    this.leader = false;
    // The same aggregation as the leader's, over this worker's report alone.
    const { outcomes } = this.tracker.aggregate([own], Date.now());
    const sample = await this.scrape();
    const decision = this.law.tick(lawSignals(sample, [own], outcomes));
    const share = Math.min(decision.limit, this.lastShare ?? Infinity);
    this.setShare(share);
    this.metrics.of(CONCURRENCY_METRICS).state({
      globalLimit: share,
      reason: this.law.reason,
      leader: false,
      workers: 1,
      kvUsage: sample?.kvUsage ?? null,
      waiting: sample?.waiting ?? null,
      running: sample?.running ?? null,
    });
  }

  private apply(state: PublishedState): void {
    this.state = state;
    this.setShare(state.shares[this.id] ?? this.config.worker.minInflight);
    this.lastShare = this.limiter.limit;
    this.metrics.of(CONCURRENCY_METRICS).state({
      globalLimit: state.limit,
      reason: state.reason,
      leader: this.leader,
      workers: state.workers,
      kvUsage: state.kvUsage,
      waiting: state.waiting,
      running: state.running,
    });
  }

  private setShare(share: number): void {
    if (share === this.limiter.limit) return;
    this.logger.debug(`in-flight share ${this.limiter.limit} → ${share}`);
    this.limiter.setLimit(share);
    this.metrics.setInflight(this.limiter.active, this.limiter.limit);
  }

  private noteDecision(d: LawDecision, workers: number): void {
    if (!d.changed) return;
    this.metrics.of(CONCURRENCY_METRICS).limitChanged(d.reason);
    this.logger.log(
      `in-flight limit ${d.previous} → ${d.limit} (${d.reason}: ${d.detail}${workers > 1 ? `; ${workers} workers` : ''})`,
    );
  }

  private async scrape(): Promise<VllmSample | null> {
    try {
      const sample = await this.source.scrape();
      if (this.scrapeOk === false) this.logger.log(`vLLM /metrics readable again`);
      this.scrapeOk = true;
      this.lastSample = sample;
      return sample;
    } catch (err) {
      if (this.scrapeOk !== false)
        this.logger.warn(
          `cannot read vLLM /metrics at ${this.config.vllmMetricsUrl} (${(err as Error).message}); ` +
            (this.adaptive
              ? `the in-flight limit follows latency and errors until it is back`
              : `the upstream KV and queue gauges are not updated`),
        );
      this.scrapeOk = false;
      this.lastSample = null;
      return null;
    }
  }

  private report(): WorkerReport {
    const demand = this.demand();
    return this.local.report(this.id, {
      inflight: this.limiter.active,
      queued: this.limiter.queued,
      pending: demand.pending,
      batches: demand.batches,
    });
  }
}
