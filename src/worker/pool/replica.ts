import type { AppConfig } from '../../platform/config/app-config';
import type { Lane } from './lane';
import { DispatchFeedback, NO_FEEDBACK } from '../upstream/dispatch-feedback';
import { ReplicaBreaker } from '../upstream/replica-breaker';
import type { UpstreamSpec } from '../upstream/sources/upstream-spec';
import { ServedModel, VllmClient } from '../upstream/vllm.client';

/**
 * One vLLM replica of the pool: its client, its circuit breaker, the models it serves and its
 * in-flight slots (a Lane of the FairLimiter: the concurrency controller sets `limit`).
 */
export class Replica implements Lane {
  readonly id: string;
  readonly client: VllmClient;
  readonly breaker: ReplicaBreaker;
  /** Where dispatch outcomes go: the replica's own concurrency control (set by the controller). */
  feedback: DispatchFeedback = NO_FEEDBACK;
  limit: number;
  active = 0;
  /** Removed from the configuration or DNS: finishes what it has in flight, gets nothing new. */
  draining = false;
  /** What GET /v1/models last said (null: not asked successfully yet). */
  private discoveredModels: ServedModel[] | null = null;
  /** The models it serves, looked up for every slot handed out. */
  private served = new Set<string>();

  constructor(
    public spec: UpstreamSpec,
    config: AppConfig,
    onBreakerChange: (replica: Replica, open: boolean) => void,
  ) {
    this.id = spec.url;
    const w = config.worker;
    this.limit =
      w.concurrencyMode === 'fixed'
        ? (spec.fixedInflight ?? w.fixedInflight)
        : (spec.minInflight ?? w.minInflight);
    this.client = new VllmClient({
      url: spec.url,
      apiKey: spec.apiKey,
      requestTimeoutMs: config.vllmRequestTimeoutMs,
      connections: Math.max(spec.maxInflight ?? w.maxInflight, spec.fixedInflight ?? w.fixedInflight, 16) * 2,
    });
    this.breaker = new ReplicaBreaker(
      spec.url,
      () => this.client.healthy(),
      (open) => onBreakerChange(this, open),
    );
    this.served = new Set(this.models);
  }

  /** The models it serves: as configured, else as discovered. */
  get models(): readonly string[] {
    return this.spec.models ?? this.discoveredModels?.map((m) => m.id) ?? [];
  }

  get discovered(): readonly ServedModel[] | null {
    return this.discoveredModels;
  }

  accepts(model: string): boolean {
    return !this.draining && !this.breaker.isOpen && this.served.has(model);
  }

  /** What the replica's GET /v1/models answered. */
  setDiscovered(models: ServedModel[]): void {
    this.discoveredModels = models;
    this.served = new Set(this.models);
  }

  /** A reloaded configuration changed this replica's settings (its URL, its identity, is the same). */
  update(spec: UpstreamSpec): void {
    if (spec.apiKey !== this.spec.apiKey) this.client.setApiKey(spec.apiKey);
    this.spec = spec;
    this.served = new Set(this.models);
  }

  async close(): Promise<void> {
    this.breaker.dispose();
    await this.client.close();
  }
}
