import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { Queue } from 'bullmq';
import { rateLimitedWarning } from '../../common/rate-limited-warning';
import { withTimeout } from '../../common/with-timeout';
import { APP_CONFIG, AppConfig, READY_DEPENDENCIES, ReadyDependency } from '../config/app-config';
import { DatabaseProbe } from '../database/database-probe';
import { MetricsService } from '../metrics/metrics.service';
import { pingQueueRedis } from '../queue/queue-connection';
import { BATCH_QUEUE } from '../queue/queue.constants';
import { STORAGE, StorageDriver } from '../storage/storage.types';

/** Each probe's bound: a hung dependency is "down", and /ready answers well within a probe's timeout (3 s in k8s/). */
const PROBE_TIMEOUT_MS = 2000;
/** A dependency that stays down is warned about at most this often (and on every change of state). */
const WARNING_INTERVAL_MS = 60_000;

/** Dependencies are also checked this often without any probe, to keep `dependency_up` current. */
const BACKGROUND_CHECK_MS = 10_000;

const DEPENDENCIES = READY_DEPENDENCIES;
type Dependency = ReadyDependency;
export type DependencyState = 'up' | 'down';

/**
 * `ok`: everything answers. `degraded`: something is down, but nothing this pod needs to serve
 * (still ready). `error`: a required dependency (READY_REQUIRES) has been down for longer than
 * READY_FAIL_AFTER_SECONDS (not ready, 503).
 */
export type Readiness = { status: 'ok' | 'degraded' | 'error' } & Record<Dependency, DependencyState>;

/**
 * Readiness: whether PostgreSQL, the queues' Redis and file storage answer. The answer names each
 * dependency's state and nothing more, since /ready is unauthenticated; why one is down (an
 * address, a driver message) goes to the log instead, once per state change and then at most once
 * a minute, so a load balancer probing every few seconds does not flood it.
 *
 * Only required dependencies fail readiness, and only after a grace period. All pods share
 * PostgreSQL, Redis and storage: a blip that failed readiness would take every pod out of the
 * Service at once, turning a degraded API (reads work without Redis, uploads need no queue) into
 * none at all. Each check also sets `vllm_batch_dependency_up`, which is what alerts use (a worker
 * stuck without Redis serves no traffic, so readiness could not catch it anyway).
 */
@Injectable()
export class ReadinessService {
  private readonly logger = new Logger('Readiness');
  private readonly last = new Map<
    Dependency,
    { state: DependencyState; downSince: number; warn: (message: string) => void }
  >();
  private readonly probes: Record<Dependency, () => Promise<unknown>>;

  constructor(
    db: DatabaseProbe,
    @InjectQueue(BATCH_QUEUE) queue: Queue,
    @Inject(STORAGE) storage: StorageDriver,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.probes = {
      postgres: () => db.ping(),
      redis: () => pingQueueRedis(queue, PROBE_TIMEOUT_MS),
      storage: () => storage.check(),
    };
  }

  @Interval(BACKGROUND_CHECK_MS)
  async backgroundCheck(): Promise<void> {
    await this.check();
  }

  async check(): Promise<Readiness> {
    const states = await Promise.all(DEPENDENCIES.map((dep) => this.probe(dep)));
    const result = Object.fromEntries(DEPENDENCIES.map((dep, i) => [dep, states[i]])) as Record<
      Dependency,
      DependencyState
    >;
    const now = Date.now();
    const failing = this.config.ready.requires.some(
      (dep) =>
        result[dep] === 'down' &&
        now - (this.last.get(dep)?.downSince ?? now) >= this.config.ready.failAfterMs,
    );
    const status = failing ? 'error' : states.every((s) => s === 'up') ? 'ok' : 'degraded';
    return { status, ...result };
  }

  private async probe(dep: Dependency): Promise<DependencyState> {
    try {
      await withTimeout(Promise.resolve().then(this.probes[dep]), PROBE_TIMEOUT_MS, `${dep} check`);
      this.record(dep, 'up');
      return 'up';
    } catch (err) {
      this.record(dep, 'down', (err as Error)?.message ?? String(err));
      return 'down';
    }
  }

  private record(dep: Dependency, state: DependencyState, reason?: string): void {
    this.metrics.dependencyState(dep, state === 'up');
    const previous = this.last.get(dep);
    if (state === 'up') {
      if (previous?.state === 'down') this.logger.log(`${dep} is up again`);
      this.last.set(dep, { state, downSince: 0, warn: () => undefined });
      return;
    }
    // A fresh warner on every change of state: the first warning of an outage is always said.
    const current =
      previous?.state === 'down'
        ? previous
        : { state, downSince: Date.now(), warn: rateLimitedWarning(this.logger, WARNING_INTERVAL_MS) };
    this.last.set(dep, current);
    current.warn(`${dep} is down: ${reason}`);
  }
}
