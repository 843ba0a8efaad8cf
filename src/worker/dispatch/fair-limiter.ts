import type { Lane } from '../pool/lane';

export type { Lane };

/** Who asks for a slot: the batch's tenant and its deadline weigh its share. */
export interface SlotOwner {
  tenant?: string;
  /** When the batch expires (ms since the epoch); sooner = a larger share while slots are short. */
  expiresAtMs?: number;
  /** Lines the batch still has to send, this one included: a tenant with little left goes first. */
  remaining?: number;
}

interface Waiter<L> {
  resolve: (lane: L) => void;
  reject: (e: Error) => void;
  prefixKey?: string;
}

interface Flow<L> {
  key: string;
  /** The batch's model (one per batch): only lanes that accept it can serve its lines. */
  model: string;
  tenant: string;
  expiresAtMs: number;
  remaining: number;
  /** Virtual time of this batch: grows by 1/weight per slot granted. */
  pass: number;
  waiters: Waiter<L>[];
}

interface TenantFlow<L> {
  pass: number;
  /** Batches of this tenant with waiters. */
  active: Set<Flow<L>>;
  /** Batches of this tenant the limiter knows (the entry goes when the last is forgotten). */
  flows: number;
}

/** A batch this close to its deadline (or closer) gets the largest weight. */
const URGENCY_REFERENCE_MS = 24 * 3600_000;
const MAX_URGENCY = 16;

/** A tenant with this many lines left (or fewer) to send gets a larger share, up to MAX_BACKLOG_BOOST. */
const BACKLOG_REFERENCE_LINES = 1000;
const MAX_BACKLOG_BOOST = 8;

/**
 * Weight of a tenant from the lines its waiting batches still have to send: 1 for 1,000 lines or
 * more, growing as the backlog shrinks, up to MAX_BACKLOG_BOOST (125 lines or fewer). A 50-line batch
 * submitted beside another tenant's 6,000-line one takes most freed slots for the moment it needs
 * them (shortest backlog first, the order that minimises mean waiting), instead of half of them.
 * The boost is per tenant, over all its batches, so splitting work into many small batches gains
 * nothing once their sum reaches 1,000 lines; a large backlog is never starved (weight ≥ 1).
 */
export function backlogWeight(flows: Iterable<{ remaining: number }>): number {
  let backlog = 0;
  for (const f of flows) backlog += f.remaining;
  return Math.max(1, Math.min(MAX_BACKLOG_BOOST, BACKLOG_REFERENCE_LINES / Math.max(1, backlog)));
}

/**
 * Weight of a batch from its time left: 1 for a day or more, growing as the deadline nears, up to
 * MAX_URGENCY (1h30 or less left). A 1h batch next to a 24h one gets 16 slots for every 1.
 */
export function urgencyWeight(expiresAtMs: number, now: number): number {
  if (!Number.isFinite(expiresAtMs)) return 1;
  const left = Math.max(1, expiresAtMs - now);
  return Math.max(1, Math.min(MAX_URGENCY, URGENCY_REFERENCE_MS / left));
}

/** Who asks for a slot, and for what: the model routes it, the prefix key keeps prefix affinity. */
export interface SlotRequest extends SlotOwner {
  model?: string;
  prefixKey?: string;
}

/** Prefix keys remembered for affinity (oldest forgotten first). */
const AFFINITY_KEYS = 4096;
/** A lane keeps its prefix while it has at least this share of its limit free (else: the freest lane). */
const AFFINITY_MIN_FREE_SHARE = 0.1;

/**
 * The in-flight slots of one worker process over the lanes (vLLM replicas) it sends to, shared by
 * every batch it runs.
 *
 * A request needs a slot on a lane that accepts its model. While one is free it is granted at once:
 * on the lane that last served the request's prefix (its prefix cache holds it) while that lane has
 * headroom, else on the lane with the most free slots, so lines spread over the replicas of a model
 * in proportion to their headroom. When none is free, freed slots are handed out by stride
 * scheduling (weighted fair queueing): first across tenants, then across the batches of the chosen
 * tenant, each taking turns in proportion to its weight, among the batches whose model has a free
 * slot. A batch's weight grows as its `expires_at` nears (see urgencyWeight), so when capacity is
 * short the earlier deadline gets the larger share, without starving the others. A small batch
 * submitted behind a 50,000-line one gets its share at once instead of queueing behind it, and a
 * tenant with ten batches gets no more than one with one. A batch that rejoins after a pause starts
 * at the current virtual time (no banked credit). A model no lane accepts (every replica down)
 * simply waits: its batches keep their place.
 */
export class FairLimiter<L extends Lane = Lane> {
  private waiting = 0;
  private readonly flows = new Map<string, Flow<L>>();
  private readonly tenants = new Map<string, TenantFlow<L>>();
  /** The pass of the last grant: where rejoining flows start. */
  private virtualTime = 0;
  private readonly affinity = new Map<string, string>();
  /**
   * Whether the last full look over the lanes saw more than one. With a single lane there is no
   * choice to remember, and remembering (a map update keyed by 256 characters of each line) was a
   * measurable part of a line's cost.
   */
  private multiLane = false;

  constructor(
    private readonly lanes: () => Iterable<L>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The sum of the lanes' limits. */
  get limit(): number {
    let sum = 0;
    for (const lane of this.lanes()) sum += lane.limit;
    return sum;
  }

  /** Slots in use over every lane. */
  get active(): number {
    let sum = 0;
    for (const lane of this.lanes()) sum += lane.active;
    return sum;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting;
  }

  /** Requests waiting for a slot that `lane` could serve. */
  queuedFor(lane: L): number {
    let n = 0;
    for (const flow of this.flows.values())
      if (flow.waiters.length > 0 && lane.accepts(flow.model)) n += flow.waiters.length;
    return n;
  }

  /** Lanes, their limits or their health changed: hand out whatever is free now. */
  refresh(): void {
    this.grant();
  }

  acquire(key: string, request: SlotRequest = {}): Promise<L> {
    const model = request.model ?? '';
    if (this.waiting === 0) {
      const lane = this.pick(model, request.prefixKey);
      if (lane) return Promise.resolve(this.take(lane, request.prefixKey));
    }
    return new Promise((resolve, reject) => {
      const flow = this.flowOf(key, request, model);
      flow.waiters.push({ resolve, reject, prefixKey: request.prefixKey });
      this.waiting++;
      if (flow.waiters.length === 1) this.activate(flow);
      this.grant();
    });
  }

  release(lane: L): void {
    lane.active--;
    this.grant();
  }

  /** Rejects every waiter of one batch (it was cancelled or its worker is stopping). */
  abandon(key: string, reason: Error): void {
    const flow = this.flows.get(key);
    if (!flow) return;
    const waiters = flow.waiters;
    flow.waiters = [];
    this.waiting -= waiters.length;
    this.deactivate(flow);
    for (const w of waiters) w.reject(reason);
  }

  /** Drops what the limiter remembers of a batch whose dispatch has ended. */
  forget(key: string): void {
    const flow = this.flows.get(key);
    if (!flow) return;
    this.abandon(key, new Error('forgotten'));
    this.flows.delete(key);
    const tenant = this.tenants.get(flow.tenant);
    if (tenant && --tenant.flows === 0) this.tenants.delete(flow.tenant);
  }

  /** The lane for a request of `model`: its prefix's lane while that has headroom, else the freest. */
  private pick(model: string, prefixKey: string | undefined): L | null {
    const preferred = prefixKey && this.multiLane ? this.affinity.get(prefixKey) : undefined;
    let best: L | null = null;
    let bestFree = 0;
    let lanes = 0;
    for (const lane of this.lanes()) {
      lanes++;
      const free = lane.limit - lane.active;
      if (free <= 0 || !lane.accepts(model)) continue;
      if (lane.id === preferred && free >= Math.max(1, AFFINITY_MIN_FREE_SHARE * lane.limit)) return lane;
      if (free > bestFree) {
        best = lane;
        bestFree = free;
      }
    }
    this.multiLane = lanes > 1;
    return best;
  }

  private take(lane: L, prefixKey: string | undefined): L {
    lane.active++;
    if (prefixKey && this.multiLane) {
      this.affinity.delete(prefixKey);
      this.affinity.set(prefixKey, lane.id);
      if (this.affinity.size > AFFINITY_KEYS)
        this.affinity.delete(this.affinity.keys().next().value as string);
    }
    return lane;
  }

  private flowOf(key: string, owner: SlotOwner, model: string): Flow<L> {
    let flow = this.flows.get(key);
    if (!flow) {
      flow = {
        key,
        model,
        tenant: owner.tenant ?? key,
        expiresAtMs: owner.expiresAtMs ?? Infinity,
        remaining: owner.remaining ?? Infinity,
        pass: this.virtualTime,
        waiters: [],
      };
      this.flows.set(key, flow);
      let tenant = this.tenants.get(flow.tenant);
      if (!tenant) {
        tenant = { pass: this.virtualTime, active: new Set(), flows: 0 };
        this.tenants.set(flow.tenant, tenant);
      }
      tenant.flows++;
    }
    if (owner.remaining !== undefined) flow.remaining = owner.remaining;
    return flow;
  }

  private activate(flow: Flow<L>): void {
    flow.pass = Math.max(flow.pass, this.virtualTime);
    const tenant = this.tenants.get(flow.tenant) as TenantFlow<L>;
    if (tenant.active.size === 0) tenant.pass = Math.max(tenant.pass, this.virtualTime);
    tenant.active.add(flow);
  }

  private deactivate(flow: Flow<L>): void {
    this.tenants.get(flow.tenant)?.active.delete(flow);
  }

  private grant(): void {
    while (this.waiting > 0) {
      const next = this.next();
      if (!next) return;
      const { flow, lane } = next;
      const tenant = this.tenants.get(flow.tenant) as TenantFlow<L>;
      const stride = 1 / urgencyWeight(flow.expiresAtMs, this.now());
      this.virtualTime = Math.max(this.virtualTime, Math.min(flow.pass, tenant.pass));
      flow.pass += stride;
      tenant.pass += stride / backlogWeight(tenant.active);
      const waiter = flow.waiters.shift() as Waiter<L>;
      this.waiting--;
      if (flow.waiters.length === 0) this.deactivate(flow);
      const granted = waiter.prefixKey ? (this.pick(flow.model, waiter.prefixKey) ?? lane) : lane;
      waiter.resolve(this.take(granted, waiter.prefixKey));
    }
  }

  /**
   * The waiting batch to serve next, with a free lane for its model: the tenant with the lowest
   * pass among those with such a batch, its lowest-pass batch. Null when no waiting model has a
   * free lane.
   */
  private next(): { flow: Flow<L>; lane: L } | null {
    const laneFor = new Map<string, L | null>();
    const free = (model: string): L | null => {
      if (!laneFor.has(model)) laneFor.set(model, this.pick(model, undefined));
      return laneFor.get(model) as L | null;
    };
    let best: { flow: Flow<L>; lane: L; tenantPass: number } | null = null;
    for (const tenant of this.tenants.values()) {
      if (tenant.active.size === 0 || (best && tenant.pass >= best.tenantPass)) continue;
      let chosen: Flow<L> | null = null;
      for (const f of tenant.active) if (free(f.model) && (!chosen || f.pass < chosen.pass)) chosen = f;
      if (chosen) best = { flow: chosen, lane: free(chosen.model) as L, tenantPass: tenant.pass };
    }
    return best;
  }
}
