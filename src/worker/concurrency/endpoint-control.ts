import { Logger } from '@nestjs/common';
import { rateLimitedWarning } from '../../common/rate-limited-warning';
import type { AppConfig } from '../../platform/config/app-config';
import type { MetricsService } from '../../platform/metrics/metrics.service';
import type { LineShape } from '../dispatch/line-shape';
import { ENDPOINT_METRICS } from '../pool/endpoint.metrics';
import type { Replica } from '../pool/replica';
import { ConcurrencyLaw, LawDecision, LimitReason } from './control-law';
import { CoordinatorStore, PublishedState, splitLimit, WorkerReport } from './coordinator';
import { lawSignals, ReportTracker } from './leader-aggregation';
import { LocalSignals } from './local-signals';
import { VllmMetricsSource, VllmSample } from './vllm-metrics';

/** A published state younger than this is continued by a new leader. */
const STATE_FRESH_MS = 10_000;
const WARN_INTERVAL_MS = 30_000;

/** The work this process has for one replica: slots waited for, lines read ahead, batches. */
export interface ReplicaDemand {
  queued: number;
  pending: number;
  batches: number;
}

/** What one round decided for the replica, for the controller's totals. */
export interface EndpointRound {
  globalLimit: number;
  reason: LimitReason;
  leader: boolean;
  workers: number;
  sample: VllmSample | null;
  decision: LawDecision | null;
}

/**
 * The adaptive in-flight limit of one replica (see ConcurrencyLaw for the law), global across
 * worker processes: every worker heartbeats its demand and dispatch outcomes for this replica to
 * Redis each tick; one of them, the replica's leader (a lease taken with SET NX PX), scrapes the
 * replica's /metrics, runs the law on the sum of every worker's signals and publishes the global
 * limit with each worker's share (weighted water-filling, see splitLimit). Each worker sets the
 * replica's lane to its share. If the leader dies, its lease expires within LEADER_TTL_MS and the
 * next heartbeat of another worker takes over, continuing from the published limit. While Redis is
 * unreachable a worker keeps its last share and may only lower it by running the law on its own
 * signals. In fixed mode the limit never moves and the replica's gauges are scraped for visibility.
 */
export class EndpointControl {
  readonly signals = new LocalSignals();
  private readonly law: ConcurrencyLaw;
  private readonly tracker = new ReportTracker();
  private readonly logger = new Logger('Concurrency');
  private readonly warn = rateLimitedWarning(this.logger, WARN_INTERVAL_MS);
  private readonly min: number;
  private leader = false;
  private state: PublishedState | null = null;
  private lastShare: number | null = null;
  private scrapeOk: boolean | null = null;
  lastSample: VllmSample | null = null;

  constructor(
    readonly replica: Replica,
    private readonly workerId: string,
    private readonly adaptive: boolean,
    config: AppConfig,
    private readonly source: VllmMetricsSource,
    private readonly store: CoordinatorStore | null,
    private readonly metrics: MetricsService,
    /** The lane's limit changed: hand out the new slots. */
    private readonly onShare: () => void,
  ) {
    const w = config.worker;
    const spec = replica.spec;
    this.min = spec.minInflight ?? w.minInflight;
    const max = Math.max(this.min, Math.min(spec.maxInflight ?? w.maxInflight, w.maxInflight));
    this.law = new ConcurrencyLaw(this.min, max);
    if (adaptive) replica.limit = this.law.limit;
    replica.feedback = this.signals;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  noteLine(shape: LineShape): void {
    this.signals.noteLine(shape);
  }

  async round(demand: ReplicaDemand): Promise<EndpointRound> {
    if (!this.adaptive) {
      const sample = await this.scrape();
      return this.publishLocally(this.replica.limit, 'fixed', sample, null);
    }
    const report = this.signals.report(this.workerId, { inflight: this.replica.active, ...demand });
    let beat: { leader: boolean; state: PublishedState | null };
    try {
      beat = await (this.store as CoordinatorStore).heartbeat(report);
    } catch (err) {
      return this.standalone(report, err as Error);
    }
    if (beat.leader) return this.lead(report, beat.state);
    if (this.leader) this.logger.log(`no longer the concurrency leader for ${this.replica.id}`);
    this.leader = false;
    if (beat.state) this.apply(beat.state);
    return this.current(null);
  }

  /** Gives up the leadership and this worker's report (the replica left, or the process stops). */
  async leave(): Promise<void> {
    this.leader = false;
    if (this.store && this.adaptive) await this.store.leave(this.workerId).catch(() => undefined);
  }

  /** The leader's round: gather every worker's report, scrape the replica, run the law, publish. */
  private async lead(own: WorkerReport, previous: PublishedState | null): Promise<EndpointRound> {
    const store = this.store as CoordinatorStore;
    if (!this.leader) {
      this.leader = true;
      this.tracker.clear();
      const recent = previous && Date.now() - previous.at < STATE_FRESH_MS;
      if (recent && previous.leader !== this.workerId) this.law.restore(previous.limit, previous.fresh);
      this.logger.log(
        `concurrency leader for ${this.replica.id}` +
          (recent ? ` (continuing from limit ${previous.limit})` : ''),
      );
    }
    const reports = (await store.reports()).filter((r) => r.id !== own.id);
    reports.push(own);
    const now = Date.now();
    const { live, stale, outcomes } = this.tracker.aggregate(reports, now);
    await store.drop(stale).catch(() => undefined);

    const sample = await this.scrape();
    const decision = this.law.tick(lawSignals(sample, live, outcomes));
    const shares = splitLimit(
      decision.limit,
      live.map((r) => ({
        id: r.id,
        wantsMore: r.queued > 0 || r.pending > 0,
        inflight: r.inflight,
        batches: r.batches,
      })),
      this.min,
    );
    const state: PublishedState = {
      leader: this.workerId,
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
      return this.current(null);
    }
    if (decision.changed)
      this.logger.log(
        `${this.replica.id}: in-flight limit ${decision.previous} → ${decision.limit} (${decision.reason}: ${decision.detail}${live.length > 1 ? `; ${live.length} workers` : ''})`,
      );
    this.apply(state);
    return this.current(decision);
  }

  /** Redis is unreachable: keep the last share, lowering it if the law on local signals says so. */
  private async standalone(own: WorkerReport, err: Error): Promise<EndpointRound> {
    this.warn(`cannot coordinate the in-flight limit through Redis (${err.message}); using local signals`);
    this.leader = false;
    // The same aggregation as the leader's, over this worker's report alone.
    const { outcomes } = this.tracker.aggregate([own], Date.now());
    const sample = await this.scrape();
    const decision = this.law.tick(lawSignals(sample, [own], outcomes));
    const share = Math.min(decision.limit, this.lastShare ?? Infinity);
    this.setShare(share);
    return this.publishLocally(share, this.law.reason, sample, decision);
  }

  private publishLocally(
    limit: number,
    reason: LimitReason,
    sample: VllmSample | null,
    decision: LawDecision | null,
  ): EndpointRound {
    this.metrics.of(ENDPOINT_METRICS).state(this.replica.id, {
      limit,
      reason,
      kvUsage: sample?.kvUsage ?? null,
      waiting: sample?.waiting ?? null,
      running: sample?.running ?? null,
    });
    return { globalLimit: limit, reason, leader: false, workers: 1, sample, decision };
  }

  private apply(state: PublishedState): void {
    this.state = state;
    this.setShare(state.shares[this.workerId] ?? this.min);
    this.lastShare = this.replica.limit;
    this.metrics.of(ENDPOINT_METRICS).state(this.replica.id, {
      limit: this.replica.limit,
      reason: state.reason,
      kvUsage: state.kvUsage,
      waiting: state.waiting,
      running: state.running,
    });
  }

  private current(decision: LawDecision | null): EndpointRound {
    const s = this.state;
    return {
      globalLimit: s?.limit ?? this.law.limit,
      reason: s?.reason ?? this.law.reason,
      leader: this.leader,
      workers: s?.workers ?? 1,
      sample: this.lastSample,
      decision,
    };
  }

  private setShare(share: number): void {
    if (share === this.replica.limit) return;
    this.logger.debug(`${this.replica.id}: in-flight share ${this.replica.limit} → ${share}`);
    this.replica.limit = Math.max(1, Math.floor(share));
    this.onShare();
  }

  private async scrape(): Promise<VllmSample | null> {
    try {
      const sample = await this.source.scrape();
      if (this.scrapeOk === false) this.logger.log(`${this.replica.spec.metricsUrl} readable again`);
      this.scrapeOk = true;
      this.lastSample = sample;
      return sample;
    } catch (err) {
      if (this.scrapeOk !== false)
        this.logger.warn(
          `cannot read vLLM /metrics at ${this.replica.spec.metricsUrl} (${(err as Error).message}); ` +
            (this.adaptive
              ? `the in-flight limit follows latency and errors until it is back`
              : `the upstream KV and queue gauges are not updated`),
        );
      this.scrapeOk = false;
      this.lastSample = null;
      return null;
    }
  }
}
