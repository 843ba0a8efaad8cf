/** Who asks for a slot: the batch's tenant and its deadline weigh its share. */
export interface SlotOwner {
  tenant?: string;
  /** When the batch expires (ms since the epoch); sooner = a larger share while slots are short. */
  expiresAtMs?: number;
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Flow {
  key: string;
  tenant: string;
  expiresAtMs: number;
  /** Virtual time of this batch: grows by 1/weight per slot granted. */
  pass: number;
  waiters: Waiter[];
}

interface TenantFlow {
  pass: number;
  /** Batches of this tenant with waiters. */
  active: Set<Flow>;
  /** Batches of this tenant the limiter knows (the entry goes when the last is forgotten). */
  flows: number;
}

/** A batch this close to its deadline (or closer) gets the largest weight. */
const URGENCY_REFERENCE_MS = 24 * 3600_000;
const MAX_URGENCY = 16;

/**
 * Weight of a batch from its time left: 1 for a day or more, growing as the deadline nears, up to
 * MAX_URGENCY (1h30 or less left). A 1h batch next to a 24h one gets 16 slots for every 1.
 */
export function urgencyWeight(expiresAtMs: number, now: number): number {
  if (!Number.isFinite(expiresAtMs)) return 1;
  const left = Math.max(1, expiresAtMs - now);
  return Math.max(1, Math.min(MAX_URGENCY, URGENCY_REFERENCE_MS / left));
}

/**
 * The in-flight limit for upstream requests of one worker process, shared by every batch it runs.
 *
 * Below the limit a slot is granted at once. At the limit, freed slots are handed out by stride
 * scheduling (weighted fair queueing): first across tenants, then across the batches of the chosen
 * tenant, each taking turns in proportion to its weight. A batch's weight grows as its `expires_at`
 * nears (see urgencyWeight), so when capacity is short the earlier deadline gets the larger share,
 * without starving the others. A small batch submitted behind a 50,000-line one gets its share at
 * once instead of queueing behind it, and a tenant with ten batches gets no more than one with one.
 * A batch that rejoins after a pause starts at the current virtual time (no banked credit).
 */
export class FairLimiter {
  private inflight = 0;
  private waiting = 0;
  private readonly flows = new Map<string, Flow>();
  private readonly tenants = new Map<string, TenantFlow>();
  /** The pass of the last grant: where rejoining flows start. */
  private virtualTime = 0;

  constructor(
    private limitValue: number,
    private readonly now: () => number = Date.now,
  ) {}

  get limit(): number {
    return this.limitValue;
  }

  get active(): number {
    return this.inflight;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting;
  }

  setLimit(limit: number): void {
    this.limitValue = Math.max(1, Math.floor(limit));
    this.grant();
  }

  acquire(key: string, owner: SlotOwner = {}): Promise<void> {
    if (this.inflight < this.limitValue && this.waiting === 0) {
      this.inflight++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const flow = this.flowOf(key, owner);
      flow.waiters.push({ resolve, reject });
      this.waiting++;
      if (flow.waiters.length === 1) this.activate(flow);
      this.grant();
    });
  }

  release(): void {
    this.inflight--;
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

  private flowOf(key: string, owner: SlotOwner): Flow {
    let flow = this.flows.get(key);
    if (!flow) {
      flow = {
        key,
        tenant: owner.tenant ?? key,
        expiresAtMs: owner.expiresAtMs ?? Infinity,
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
    return flow;
  }

  private activate(flow: Flow): void {
    flow.pass = Math.max(flow.pass, this.virtualTime);
    const tenant = this.tenants.get(flow.tenant) as TenantFlow;
    if (tenant.active.size === 0) tenant.pass = Math.max(tenant.pass, this.virtualTime);
    tenant.active.add(flow);
  }

  private deactivate(flow: Flow): void {
    this.tenants.get(flow.tenant)?.active.delete(flow);
  }

  private grant(): void {
    while (this.inflight < this.limitValue && this.waiting > 0) {
      const flow = this.next();
      const tenant = this.tenants.get(flow.tenant) as TenantFlow;
      const stride = 1 / urgencyWeight(flow.expiresAtMs, this.now());
      this.virtualTime = Math.max(this.virtualTime, Math.min(flow.pass, tenant.pass));
      flow.pass += stride;
      tenant.pass += stride;
      const waiter = flow.waiters.shift() as Waiter;
      this.waiting--;
      if (flow.waiters.length === 0) this.deactivate(flow);
      this.inflight++;
      waiter.resolve();
    }
  }

  /** The waiting batch of the tenant with the lowest pass, lowest pass within it. */
  private next(): Flow {
    let bestTenant: TenantFlow | undefined;
    for (const t of this.tenants.values())
      if (t.active.size > 0 && (!bestTenant || t.pass < bestTenant.pass)) bestTenant = t;
    let best: Flow | undefined;
    for (const f of (bestTenant as TenantFlow).active) if (!best || f.pass < best.pass) best = f;
    return best as Flow;
  }
}
