import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { withTimeout } from '../common/with-timeout';
import { pingQueueRedis } from '../queue/queue-connection';
import { BATCH_QUEUE } from '../queue/queue.constants';
import { STORAGE, StorageDriver } from '../storage/storage.types';

/** Each probe's bound: a hung dependency is "down", and /ready answers well within a probe's timeout (3 s in k8s/). */
const PROBE_TIMEOUT_MS = 2000;
/** A dependency that stays down is warned about at most this often (and on every change of state). */
const WARNING_INTERVAL_MS = 60_000;

export const DEPENDENCIES = ['postgres', 'redis', 'storage'] as const;
export type Dependency = (typeof DEPENDENCIES)[number];
export type DependencyState = 'up' | 'down';

export type Readiness = { status: 'ok' | 'error' } & Record<Dependency, DependencyState>;

/**
 * Readiness: whether PostgreSQL, the queues' Redis and file storage answer. The answer names each
 * dependency's state and nothing more, since /ready is unauthenticated; why one is down (an
 * address, a driver message) goes to the log instead, once per state change and then at most once
 * a minute, so a load balancer probing every few seconds does not flood it.
 */
@Injectable()
export class ReadinessService {
  private readonly logger = new Logger('Readiness');
  private readonly last = new Map<Dependency, { state: DependencyState; warnedAt: number }>();
  private readonly probes: Record<Dependency, () => Promise<unknown>>;

  constructor(
    @InjectDataSource() db: DataSource,
    @InjectQueue(BATCH_QUEUE) queue: Queue,
    @Inject(STORAGE) storage: StorageDriver,
  ) {
    this.probes = {
      postgres: () => db.query('SELECT 1'),
      redis: () => pingQueueRedis(queue, PROBE_TIMEOUT_MS),
      storage: () => storage.check(),
    };
  }

  async check(): Promise<Readiness> {
    const states = await Promise.all(DEPENDENCIES.map((dep) => this.probe(dep)));
    const result = Object.fromEntries(DEPENDENCIES.map((dep, i) => [dep, states[i]])) as Record<
      Dependency,
      DependencyState
    >;
    return { status: states.every((s) => s === 'up') ? 'ok' : 'error', ...result };
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
    const now = Date.now();
    const previous = this.last.get(dep);
    if (state === 'up') {
      if (previous?.state === 'down') this.logger.log(`${dep} is up again`);
      this.last.set(dep, { state, warnedAt: 0 });
      return;
    }
    if (previous?.state === 'down' && now - previous.warnedAt < WARNING_INTERVAL_MS) return;
    this.logger.warn(`${dep} is down: ${reason}`);
    this.last.set(dep, { state, warnedAt: now });
  }
}
