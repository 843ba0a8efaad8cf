import { createHash } from 'node:crypto';
import type IORedis from 'ioredis';
import type { DispatchOutcomes, LimitReason } from './control-law';

/**
 * What each worker process publishes about itself once per tick. Counters are cumulative since the
 * process started (the leader takes differences), so a lost heartbeat loses no events.
 */
export interface WorkerReport extends DispatchOutcomes {
  id: string;
  /** Increments with every heartbeat; the leader drops workers whose seq stops moving. */
  seq: number;
  inflight: number;
  /** Lines waiting for an in-flight slot in this process. */
  queued: number;
  /** Lines read ahead, not yet dispatched. */
  pending: number;
  /** Batches of this process with lines to send. */
  batches: number;
  /** Decayed sums over the lines read recently: their count, estimated prompt tokens, max_tokens. */
  lineN: number;
  linePrompt: number;
  lineMax: number;
}

/** The global state of one vLLM endpoint, written by the leader, read by every worker. */
export interface PublishedState {
  leader: string;
  /** Leader's clock, ms: lets a new leader tell whether the state is recent. */
  at: number;
  limit: number;
  reason: LimitReason;
  fresh: boolean;
  /** In-flight share of each live worker; they add up to the limit (plus a floor for idle workers). */
  shares: Record<string, number>;
  workers: number;
  kvUsage: number | null;
  waiting: number | null;
  running: number | null;
  /** Whether the law ran on vLLM's /metrics (false: latency fallback). */
  metrics: boolean;
}

export interface CoordinatorStore {
  /** Publishes this worker's report, takes or renews the leadership, reads the published state. */
  heartbeat(report: WorkerReport): Promise<{ leader: boolean; state: PublishedState | null }>;
  /** Every worker's latest report (leader only). */
  reports(): Promise<WorkerReport[]>;
  /** Removes reports of workers that stopped heartbeating. */
  drop(ids: string[]): Promise<void>;
  /** Writes the state if this worker still holds the leadership. */
  publish(state: PublishedState): Promise<boolean>;
  /** Gives up the leadership and removes this worker's report (on shutdown). */
  leave(id: string): Promise<void>;
}

/** Leadership lease: a leader that stops renewing is replaced after this long. */
export const LEADER_TTL_MS = 3000;

const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

const PUBLISH = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 1`;

/** A short stable id of a vLLM endpoint, so one Redis serves several endpoints without mixing them. */
export function endpointId(vllmBaseUrl: string): string {
  return createHash('sha1').update(vllmBaseUrl).digest('hex').slice(0, 12);
}

/** Where the coordination of one vLLM replica (by its base URL) lives in Redis. */
export function coordinationPrefix(queuePrefix: string, replicaUrl: string): string {
  return `${queuePrefix}:concurrency:${endpointId(replicaUrl)}`;
}

/**
 * The Redis side of the coordination. Keys (under `<QUEUE_PREFIX>:concurrency:<endpoint id>:`):
 * `leader` (the leader's worker id, a lease set with SET NX PX and renewed by a check-and-PEXPIRE
 * script), `workers` (a hash of worker id → JSON report) and `state` (the leader's JSON state,
 * written only while the writer holds the lease).
 */
export class RedisCoordinatorStore implements CoordinatorStore {
  private readonly leaderKey: string;
  private readonly workersKey: string;
  private readonly stateKey: string;

  constructor(
    private readonly redis: IORedis,
    private readonly id: string,
    keyPrefix: string,
  ) {
    this.leaderKey = `${keyPrefix}:leader`;
    this.workersKey = `${keyPrefix}:workers`;
    this.stateKey = `${keyPrefix}:state`;
  }

  async heartbeat(report: WorkerReport): Promise<{ leader: boolean; state: PublishedState | null }> {
    const res = await this.redis
      .multi()
      .hset(this.workersKey, report.id, JSON.stringify(report))
      .pexpire(this.workersKey, 60_000)
      .eval(ACQUIRE, 1, this.leaderKey, this.id, LEADER_TTL_MS)
      .get(this.stateKey)
      .exec();
    if (!res) throw new Error('coordination transaction aborted');
    for (const [err] of res) if (err) throw err;
    const leader = res[2][1] === 1;
    const raw = res[3][1] as string | null;
    return { leader, state: raw ? (JSON.parse(raw) as PublishedState) : null };
  }

  async reports(): Promise<WorkerReport[]> {
    const all = await this.redis.hgetall(this.workersKey);
    return Object.values(all).map((v) => JSON.parse(v) as WorkerReport);
  }

  async drop(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.hdel(this.workersKey, ...ids);
  }

  async publish(state: PublishedState): Promise<boolean> {
    const ok = await this.redis.eval(
      PUBLISH,
      2,
      this.leaderKey,
      this.stateKey,
      this.id,
      JSON.stringify(state),
      60_000,
    );
    return ok === 1;
  }

  async leave(id: string): Promise<void> {
    await this.redis.multi().eval(RELEASE, 1, this.leaderKey, id).hdel(this.workersKey, id).exec();
  }
}

export interface ShareRequest {
  id: string;
  /** Wants more than it has (lines queued or read ahead). */
  wantsMore: boolean;
  inflight: number;
  /** Batches with lines to send: the weight of the worker's claim. */
  batches: number;
}

/**
 * Splits the global limit among workers by weighted water-filling: a worker that cannot use its
 * fair share (nothing queued) keeps what it has in flight and the rest goes to the others, in
 * proportion to their number of batches. Every worker gets at least `floor` so a batch that
 * arrives at an idle worker starts at once; the floors of idle workers are the only excess over
 * the global limit.
 */
export function splitLimit(global: number, workers: ShareRequest[], floor = 1): Record<string, number> {
  const shares: Record<string, number> = {};
  if (workers.length === 0) return shares;
  if (workers.length === 1) return { [workers[0].id]: Math.max(floor, global) };
  let remaining = global;
  const open: ShareRequest[] = [];
  for (const w of workers) {
    if (w.wantsMore) open.push(w);
    else {
      const keep = Math.min(Math.max(floor, w.inflight), remaining);
      shares[w.id] = Math.max(floor, keep);
      remaining -= keep;
    }
  }
  // Workers that want more share what is left by weight (largest remainders get the rounding).
  const weight = (w: ShareRequest): number => Math.max(1, w.batches);
  const total = open.reduce((a, w) => a + weight(w), 0);
  const exact = open.map((w) => ({ w, v: (Math.max(0, remaining) * weight(w)) / total }));
  let given = 0;
  for (const e of exact) {
    shares[e.w.id] = Math.floor(e.v);
    given += Math.floor(e.v);
  }
  exact.sort((a, b) => b.v - Math.floor(b.v) - (a.v - Math.floor(a.v)));
  for (let i = 0; i < exact.length && given < remaining; i++, given++) shares[exact[i].w.id]++;
  for (const w of open) shares[w.id] = Math.max(floor, shares[w.id]);
  return shares;
}
