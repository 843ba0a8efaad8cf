import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit, Optional } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { withTimeout } from '../../common/with-timeout';
import { ModelCatalogueRepository } from '../../domain/models/model-catalogue.repository';
import { APP_CONFIG, AppConfig } from '../../platform/config/app-config';
import { MetricsService } from '../../platform/metrics/metrics.service';
import { UpstreamSource, UpstreamSpec } from '../upstream/sources/upstream-spec';
import { ServedModel } from '../upstream/vllm.client';
import { ENDPOINT_METRICS } from './endpoint.metrics';
import { Replica } from './replica';

/** Injection token of the source of the replica list (file, DNS, list or VLLM_BASE_URL). */
export const UPSTREAM_SOURCE = Symbol('UPSTREAM_SOURCE');

/** How often every replica's GET /v1/models is asked again. */
export const MODELS_REFRESH_MS = 15_000;
/** The start waits this long for the first model lists (a replica down does not hold it longer). */
const FIRST_REFRESH_WAIT_MS = 5000;

/**
 * The vLLM replicas this worker sends to, as the upstream source lists them. Replicas that appear
 * are used at once (their models asked first); a replica that leaves the list is drained: it
 * finishes what it has in flight, gets nothing new, and is dropped when idle (its metric series
 * and its coordination go with it). The models each replica serves come from the configuration,
 * else from its GET /v1/models, refreshed every MODELS_REFRESH_MS and recorded in the catalogue.
 */
@Injectable()
export class UpstreamPool implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('UpstreamPool');
  private readonly byUrl = new Map<string, Replica>();
  /** The replicas as an array, rebuilt on change: the limiter walks it for every slot. */
  private list: Replica[] = [];
  private readonly listeners = new Set<() => void>();
  private refreshing: Promise<void> | null = null;
  private stopped = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    @Inject(UPSTREAM_SOURCE) private readonly source: UpstreamSource,
    /** Where what each replica serves is recorded, so the API lists it (absent in unit tests). */
    @Optional() private readonly catalogue?: ModelCatalogueRepository,
  ) {}

  /** Node's default for SIGHUP is to exit: only the file source has something to reload. */
  private readonly ignoreSighup = (): void =>
    this.logger.log(`SIGHUP: nothing to reload (upstreams from ${this.source.describe()})`);

  async onModuleInit(): Promise<void> {
    if (this.source.kind !== 'file') process.on('SIGHUP', this.ignoreSighup);
    await this.source.start((specs) => this.apply(specs));
    this.logger.log(`upstreams from ${this.source.describe()}`);
    await withTimeout(this.refreshModels(), FIRST_REFRESH_WAIT_MS, 'the first model lists').catch(
      () => undefined,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    process.off('SIGHUP', this.ignoreSighup);
    await this.source.stop().catch(() => undefined);
    await this.refreshing?.catch(() => undefined);
    await Promise.all(this.list.map((r) => r.close()));
  }

  /** Every replica, draining ones included (they still hold requests). */
  replicas(): readonly Replica[] {
    return this.list;
  }

  /** Hears every change of the pool: replicas added or removed, opened or closed, models changed. */
  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  /** Model ids some live replica serves now (configured or discovered). */
  modelsServed(): string[] {
    const ids = new Set<string>();
    for (const r of this.list) if (!r.draining) for (const m of r.models) ids.add(m);
    return [...ids].sort();
  }

  /** Model ids named in the configuration (the upstreams file's `models`). */
  modelsConfigured(): string[] {
    const ids = new Set<string>();
    for (const r of this.list) for (const m of r.spec.models ?? []) ids.add(m);
    return [...ids];
  }

  /** Applies a new list from the source: adds, updates, drains. */
  apply(specs: UpstreamSpec[]): void {
    if (this.stopped) return;
    const wanted = new Map(specs.map((s) => [s.url, s]));
    const added: Replica[] = [];
    for (const spec of specs) {
      const current = this.byUrl.get(spec.url);
      if (current && !current.draining) {
        current.update(spec);
        continue;
      }
      if (current) {
        // Named again before it was dropped: the same replica serves again, with its in-flight count.
        this.logger.log(`${spec.url} is back in the configuration`);
        current.draining = false;
        this.metrics.of(ENDPOINT_METRICS).draining(spec.url, false);
        current.update(spec);
        continue;
      }
      const replica = new Replica(spec, this.config, (r, open) => this.breakerChanged(r, open));
      this.byUrl.set(spec.url, replica);
      this.metrics.of(ENDPOINT_METRICS).joined(spec.url);
      added.push(replica);
      this.logger.log(`replica ${spec.url} joined the pool`);
    }
    for (const replica of this.byUrl.values())
      if (!wanted.has(replica.id) && !replica.draining) {
        replica.draining = true;
        this.metrics.of(ENDPOINT_METRICS).draining(replica.id);
        this.logger.log(
          `replica ${replica.id} left the configuration: draining (${replica.active} in flight)`,
        );
      }
    this.rebuild();
    for (const replica of added) void this.refreshReplica(replica);
    this.sweepDrained();
  }

  /** Drops drained replicas with nothing left in flight. */
  sweepDrained(): void {
    const gone = this.list.filter((r) => r.draining && r.active === 0);
    if (gone.length === 0) return;
    for (const replica of gone) {
      this.byUrl.delete(replica.id);
      this.metrics.of(ENDPOINT_METRICS).forget(replica.id);
      void replica.close();
      void this.catalogue?.endpointGone(replica.id).catch(() => undefined);
      this.logger.log(`replica ${replica.id} drained and removed`);
    }
    this.rebuild();
  }

  /** Asks every live replica what it serves (also on demand: a model nobody was known to serve). */
  @Interval(MODELS_REFRESH_MS)
  refreshModels(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    this.refreshing = Promise.all(this.list.filter((r) => !r.draining).map((r) => this.refreshReplica(r)))
      .then(() => undefined)
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private async refreshReplica(replica: Replica): Promise<void> {
    let served: ServedModel[];
    try {
      served = await replica.client.listModels();
    } catch (err) {
      if (replica.discovered === null && !replica.spec.models)
        this.logger.warn(
          `cannot list the models of ${replica.id} (${(err as Error).message}); it gets no lines until it answers`,
        );
      return;
    }
    if (this.stopped || replica.draining) return;
    const before = replica.models.join('\n');
    replica.setDiscovered(served);
    const models = replica.spec.models
      ? replica.spec.models.map((id) => served.find((m) => m.id === id) ?? { id })
      : served;
    this.metrics.of(ENDPOINT_METRICS).models(
      replica.id,
      models.map((m) => m.id),
    );
    await this.catalogue
      ?.recordServed(replica.id, models)
      .catch((err: Error) => this.logger.warn(`cannot record the models of ${replica.id}: ${err.message}`));
    if (replica.models.join('\n') !== before) {
      this.logger.log(`${replica.id} serves ${replica.models.join(', ') || 'no model'}`);
      this.notify();
    }
  }

  private breakerChanged(replica: Replica, open: boolean): void {
    this.metrics.of(ENDPOINT_METRICS).breaker(replica.id, open);
    this.notify();
  }

  private rebuild(): void {
    this.list = [...this.byUrl.values()];
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
