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
import type { LineShape } from '../dispatch/line-shape';
import { ENDPOINT_METRICS } from '../pool/endpoint.metrics';
import type { Replica } from '../pool/replica';
import { UpstreamPool } from '../pool/upstream-pool.service';
import { LimitReason } from './control-law';
import { CONCURRENCY_METRICS } from './concurrency.metrics';
import { CoordinatorStore, coordinationPrefix, RedisCoordinatorStore } from './coordinator';
import { EndpointControl, EndpointRound } from './endpoint-control';
import { HttpVllmMetricsSource, VllmMetricsSource, VllmSample } from './vllm-metrics';

/** Injection token for the vLLM /metrics adapter per replica (tests swap it). */
export const VLLM_METRICS_SOURCE = Symbol('VLLM_METRICS_SOURCE');
/** Injection token for the coordination store per replica (tests swap it); default: Redis. */
export const COORDINATOR_STORE = Symbol('COORDINATOR_STORE');

export type MetricsSourceFactory = (replica: Replica) => VllmMetricsSource;
export type CoordinatorStoreFactory = (replica: Replica, workerId: string) => CoordinatorStore;

/** One control round per tick: scrape, law, publish, for every replica at once. */
export const TICK_MS = 1000;
/** How long a batch waits for the first control round before sending anyway. */
const KICK_WAIT_MS = 1000;
const WARN_INTERVAL_MS = 30_000;
/** How long the start waits for the coordination Redis before running without it. */
const REDIS_WAIT_MS = 3000;

/** Where the controller reads the work waiting in this process (set by BatchRunnerService). */
export interface LocalDemand {
  /** Lines read ahead, not yet sent, and batches with lines left, for one model. */
  forModel(model: string): { pending: number; batches: number };
}

export interface ControllerSnapshot {
  mode: 'adaptive' | 'fixed';
  /** Whether this worker leads the control of at least one replica. */
  leader: boolean;
  /** The sum of the replicas' global limits. */
  globalLimit: number;
  /** This worker's slots over every replica. */
  share: number;
  reason: string;
  workers: number;
  sample: VllmSample | null;
}

/**
 * The adaptive in-flight limits of this worker process: one EndpointControl per replica of the
 * pool, each with its own law fed by the replica's own /metrics and its own dispatch outcomes,
 * coordinated across worker processes through Redis (see EndpointControl). The FairLimiter hands
 * out the replicas' slots; this service keeps one control per live replica and runs their rounds
 * each tick. WORKER_CONCURRENCY_MODE=fixed: WORKER_FIXED_INFLIGHT per replica and process.
 */
@Injectable()
export class ConcurrencyController implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  readonly limiter: FairLimiter<Replica>;
  private readonly logger = new Logger('Concurrency');
  private readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly adaptive: boolean;
  private readonly redis: IORedis | null = null;
  private readonly sourceFor: MetricsSourceFactory;
  private readonly storeFor: CoordinatorStoreFactory | null;
  private readonly controls = new Map<string, EndpointControl>();
  private demand: LocalDemand = { forModel: () => ({ pending: 0, batches: 0 }) };
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private stopped = false;
  private last: { rounds: EndpointRound[] } = { rounds: [] };
  private readonly warn = rateLimitedWarning(this.logger, WARN_INTERVAL_MS);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly pool: UpstreamPool,
    @Optional() @Inject(VLLM_METRICS_SOURCE) sourceFor?: MetricsSourceFactory,
    @Optional() @Inject(COORDINATOR_STORE) storeFor?: CoordinatorStoreFactory,
  ) {
    this.adaptive = config.worker.concurrencyMode === 'adaptive';
    this.limiter = new FairLimiter(() => pool.replicas());
    this.sourceFor = sourceFor ?? ((r) => new HttpVllmMetricsSource(r.spec.metricsUrl, r.spec.apiKey));
    if (storeFor) this.storeFor = storeFor;
    else if (this.adaptive) {
      const redis = createFailFastRedis(config.redisUrl, {
        onError: (err) => this.warn(`coordination Redis unreachable: ${err.message}`),
      });
      this.redis = redis;
      this.storeFor = (r, id) =>
        new RedisCoordinatorStore(redis, id, coordinationPrefix(config.queuePrefix, r.id));
    } else this.storeFor = null;
    pool.onChange(() => this.syncReplicas());
    this.syncReplicas();
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
    await Promise.all([...this.controls.values()].map((c) => c.leave()));
    this.redis?.disconnect();
  }

  /** BatchRunnerService tells where to read the lines waiting in this process. */
  setDemandSource(demand: LocalDemand): void {
    this.demand = demand;
  }

  /** A line of `model` was read for dispatch: its estimated size feeds the estimate of each replica serving it. */
  noteLine(model: string, shape: LineShape): void {
    for (const c of this.controls.values()) if (c.replica.accepts(model)) c.noteLine(shape);
  }

  /**
   * A batch is about to start sending: run a control round now rather than within a second, so
   * the first requests go out under limits estimated for this batch. Bounded wait.
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
    const rounds = this.last.rounds;
    const reason = rounds.find((r) => r.decision?.changed)?.reason ?? rounds[0]?.reason;
    return {
      mode: this.adaptive ? 'adaptive' : 'fixed',
      leader: rounds.some((r) => r.leader),
      globalLimit: this.adaptive ? rounds.reduce((a, r) => a + r.globalLimit, 0) : this.limiter.limit,
      share: this.limiter.limit,
      reason: this.adaptive ? (reason ?? 'initial') : 'fixed',
      workers: Math.max(1, ...rounds.map((r) => r.workers)),
      sample: rounds[0]?.sample ?? null,
    };
  }

  /** One control per live replica: new replicas get one, replicas that left give theirs up. */
  private syncReplicas(): void {
    const live = new Set<string>();
    for (const replica of this.pool.replicas()) {
      live.add(replica.id);
      if (this.controls.has(replica.id)) continue;
      this.controls.set(
        replica.id,
        new EndpointControl(
          replica,
          this.id,
          this.adaptive,
          this.config,
          this.sourceFor(replica),
          this.storeFor?.(replica, this.id) ?? null,
          this.metrics,
          () => this.limiter.refresh(),
        ),
      );
    }
    for (const [id, control] of this.controls)
      if (!live.has(id)) {
        this.controls.delete(id);
        void control.leave();
      }
    this.limiter.refresh();
  }

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
    this.round = this.allRounds()
      .catch((err: unknown) => this.warn(`control round failed: ${(err as Error).message}`))
      .finally(() => {
        this.round = null;
      });
    return this.round;
  }

  private async allRounds(): Promise<void> {
    const controls = [...this.controls.values()];
    const rounds = await Promise.all(
      controls.map((c) => c.round(this.demandOf(c.replica)).catch(() => null)),
    );
    const done = rounds.filter((r): r is EndpointRound => r !== null);
    this.last = { rounds: done };
    for (const r of done)
      if (r.decision?.changed) this.metrics.of(CONCURRENCY_METRICS).limitChanged(r.decision.reason);
    const snap = this.snapshot();
    const samples = done.map((r) => r.sample).filter((s): s is VllmSample => s !== null);
    const sum = (f: (s: VllmSample) => number): number | null =>
      samples.length ? samples.reduce((a, s) => a + f(s), 0) : null;
    const kv = samples.filter((s) => s.kvUsage !== null);
    this.metrics.of(CONCURRENCY_METRICS).state({
      globalLimit: snap.globalLimit,
      reason: snap.reason as LimitReason,
      leader: snap.leader,
      workers: snap.workers,
      kvUsage: kv.length ? kv.reduce((a, s) => a + (s.kvUsage as number), 0) / kv.length : null,
      waiting: sum((s) => s.waiting),
      running: sum((s) => s.running),
    });
    this.metrics.setInflight(this.limiter.active, this.limiter.limit);
    for (const r of this.pool.replicas()) this.metrics.of(ENDPOINT_METRICS).inflight(r.id, r.active);
    this.pool.sweepDrained();
  }

  /** This process's demand on one replica: for each model it serves, the lines waiting. */
  private demandOf(replica: Replica): { queued: number; pending: number; batches: number } {
    let pending = 0;
    let batches = 0;
    for (const model of replica.models) {
      const d = this.demand.forModel(model);
      pending += d.pending;
      batches += d.batches;
    }
    return { queued: this.limiter.queuedFor(replica), pending, batches };
  }
}
