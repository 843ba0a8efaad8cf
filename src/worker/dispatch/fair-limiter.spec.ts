import { backlogWeight, FairLimiter, Lane, urgencyWeight } from './fair-limiter';

const HOUR = 3600_000;

/** A batch asking for slots: its key, tenant, deadline and lines left to send. */
type BatchSpec = { key: string; tenant?: string; expiresAtMs?: number; remaining?: number };
const NOW = 1_700_000_000_000;

/** A lane (replica) with `limit` slots serving `models` (every model when omitted). */
function lane(id: string, limit: number, models?: string[]): Lane {
  return { id, limit, active: 0, accepts: (m) => !models || models.includes(m) };
}

/** A limiter over one lane of `limit` slots, as a worker with a single vLLM has. */
function single(limit: number): FairLimiter & { lane: Lane } {
  const only = lane('only', limit);
  return Object.assign(
    new FairLimiter(
      () => [only],
      () => NOW,
    ),
    { lane: only },
  );
}

/** Keeps `want` acquires pending per batch (as BatchDispatch does: one at a time per batch). */
async function grantsOver(
  limiter: FairLimiter & { lane: Lane },
  batches: Array<BatchSpec>,
  grants: number,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let total = 0;
  await new Promise<void>((done) => {
    const loop = (b: BatchSpec): void => {
      void limiter
        .acquire(b.key, { tenant: b.tenant, expiresAtMs: b.expiresAtMs, remaining: b.remaining })
        .then(() => {
          counts[b.key] = (counts[b.key] ?? 0) + 1;
          if (++total >= grants) return done();
          loop(b);
          // The request finishes at once: the slot goes to whoever is next in line.
          setImmediate(() => limiter.release(limiter.lane));
        });
    };
    for (const b of batches) loop(b);
  });
  return counts;
}

/** grantsOver on a limiter of one slot, held by `holder` and released once the batches queue. */
async function grantsWhileShort(
  batches: Array<BatchSpec>,
  grants: number,
  holder = 'x',
): Promise<Record<string, number>> {
  const limiter = single(1);
  await limiter.acquire(holder);
  setImmediate(() => limiter.release(limiter.lane));
  return grantsOver(limiter, batches, grants);
}

describe('FairLimiter', () => {
  it('grants at once below the limit and queues at it', async () => {
    const limiter = single(2);
    await limiter.acquire('a');
    await limiter.acquire('a');
    let third = false;
    const pending = limiter.acquire('b').then(() => (third = true));
    await new Promise((r) => setImmediate(r));
    expect(third).toBe(false);
    expect(limiter.queued).toBe(1);
    limiter.release(limiter.lane);
    await pending;
    expect(limiter.active).toBe(2);
    expect(limiter.queued).toBe(0);
  });

  it('serves batches in turn while slots are short (a small batch is not stuck behind a large one)', async () => {
    // the big batch holds the only slot
    const counts = await grantsWhileShort([{ key: 'big' }, { key: 'small' }], 200, 'big');
    expect(Math.abs(counts.big - counts.small)).toBeLessThanOrEqual(2);
  });

  it('shares by tenant first: a tenant with three batches gets no more than one with one', async () => {
    const counts = await grantsWhileShort(
      [
        { key: 'a1', tenant: 'a' },
        { key: 'a2', tenant: 'a' },
        { key: 'a3', tenant: 'a' },
        { key: 'b1', tenant: 'b' },
      ],
      300,
    );
    const a = counts.a1 + counts.a2 + counts.a3;
    expect(Math.abs(a - counts.b1)).toBeLessThanOrEqual(3);
    expect(Math.abs(counts.a1 - counts.a2)).toBeLessThanOrEqual(2);
  });

  it('gives the earlier deadline the larger share when slots are short, without starving the other', async () => {
    const counts = await grantsWhileShort(
      [
        { key: 'day', expiresAtMs: NOW + 24 * HOUR },
        { key: 'hour', expiresAtMs: NOW + HOUR },
      ],
      340,
    );
    expect(counts.hour / counts.day).toBeGreaterThan(10);
    expect(counts.day).toBeGreaterThan(5);
  });

  it('weighs urgency from the time left: 1 for a day or more, up to 16 near the deadline', () => {
    expect(urgencyWeight(Infinity, NOW)).toBe(1);
    expect(urgencyWeight(NOW + 48 * HOUR, NOW)).toBe(1);
    expect(urgencyWeight(NOW + 12 * HOUR, NOW)).toBe(2);
    expect(urgencyWeight(NOW + HOUR, NOW)).toBe(16);
    expect(urgencyWeight(NOW - HOUR, NOW)).toBe(16);
  });

  it('rejects the waiters of an abandoned batch and keeps serving the others', async () => {
    const limiter = single(1);
    await limiter.acquire('a');
    const gone = limiter.acquire('b');
    const kept = limiter.acquire('c');
    limiter.abandon('b', new Error('cancelled'));
    await expect(gone).rejects.toThrow('cancelled');
    limiter.release(limiter.lane);
    await kept;
    expect(limiter.active).toBe(1);
    limiter.forget('b');
    limiter.forget('c');
  });

  it('applies a new limit at once, granting waiters when it grows', async () => {
    const limiter = single(1);
    await limiter.acquire('a');
    const more = [limiter.acquire('a'), limiter.acquire('b'), limiter.acquire('c')];
    limiter.lane.limit = 4;
    limiter.refresh();
    await Promise.all(more);
    expect(limiter.active).toBe(4);
  });

  it('gives a tenant with little left to send most freed slots, and never starves the large backlog', async () => {
    const counts = await grantsWhileShort(
      [
        { key: 'large', tenant: 'a', remaining: 6000 },
        { key: 'small', tenant: 'b', remaining: 50 },
      ],
      180,
    );
    // Shortest backlog first: 8 slots for every 1 while the small batch has lines to send.
    expect(counts.small / counts.large).toBeGreaterThan(6);
    expect(counts.large).toBeGreaterThan(10);
  });

  it('weighs the backlog per tenant: splitting 6,000 lines into small batches gains nothing', () => {
    expect(backlogWeight([{ remaining: 6000 }])).toBe(1);
    expect(backlogWeight([{ remaining: 50 }])).toBe(8);
    expect(backlogWeight([{ remaining: 500 }])).toBe(2);
    expect(backlogWeight(Array.from({ length: 120 }, () => ({ remaining: 50 })))).toBe(1);
  });

  describe('over several lanes (replicas)', () => {
    it('routes each model to the lanes that serve it, and waits while none accepts it', async () => {
      const a = lane('a', 2, ['m1']);
      const b = lane('b', 2, ['m2']);
      const lanes = [a, b];
      const limiter = new FairLimiter(
        () => lanes,
        () => NOW,
      );
      expect((await limiter.acquire('x', { model: 'm1' })).id).toBe('a');
      expect((await limiter.acquire('y', { model: 'm2' })).id).toBe('b');
      let got: Lane | null = null;
      const waiting = limiter.acquire('z', { model: 'm3' }).then((l) => (got = l));
      await new Promise((r) => setImmediate(r));
      expect(got).toBeNull();
      expect(limiter.queued).toBe(1);
      expect(limiter.queuedFor(a)).toBe(0);
      // A replica serving m3 appears (or comes back): the waiter gets it.
      const c = lane('c', 1, ['m3']);
      lanes.push(c);
      expect(limiter.queuedFor(c)).toBe(1);
      limiter.refresh();
      await waiting;
      expect(got).toBe(c);
    });

    it('spreads lines over the replicas of a model in proportion to their free slots', async () => {
      const big = lane('big', 20);
      const small = lane('small', 10);
      const limiter = new FairLimiter(
        () => [big, small],
        () => NOW,
      );
      const counts: Record<string, number> = { big: 0, small: 0 };
      for (let i = 0; i < 30; i++) counts[(await limiter.acquire('k', { model: 'm' })).id]++;
      expect(counts).toEqual({ big: 20, small: 10 });
    });

    it('keeps lines of one prefix on the replica that served it while it has headroom', async () => {
      const a = lane('a', 10);
      const b = lane('b', 10);
      const limiter = new FairLimiter(
        () => [a, b],
        () => NOW,
      );
      const first = await limiter.acquire('k', { model: 'm', prefixKey: 'system prompt 1' });
      const other = await limiter.acquire('k', { model: 'm', prefixKey: 'system prompt 2' });
      expect(other.id).not.toBe(first.id);
      for (let i = 0; i < 5; i++)
        expect((await limiter.acquire('k', { model: 'm', prefixKey: 'system prompt 1' })).id).toBe(first.id);
      // Full: the prefix goes elsewhere rather than wait.
      for (let i = 0; i < 4; i++) await limiter.acquire('k', { model: 'm', prefixKey: 'system prompt 1' });
      expect((await limiter.acquire('k', { model: 'm', prefixKey: 'system prompt 1' })).id).toBe(other.id);
    });

    it('serves a waiting model whose lane frees while another model waits for a busy lane', async () => {
      const a = lane('a', 1, ['m1']);
      const b = lane('b', 1, ['m2']);
      const limiter = new FairLimiter(
        () => [a, b],
        () => NOW,
      );
      await limiter.acquire('x', { model: 'm1' });
      await limiter.acquire('y', { model: 'm2' });
      const m1 = limiter.acquire('x', { model: 'm1' });
      const m2 = limiter.acquire('y', { model: 'm2' });
      expect(limiter.queuedFor(a)).toBe(1);
      limiter.release(b);
      expect((await m2).id).toBe('b');
      limiter.release(a);
      expect((await m1).id).toBe('a');
    });
  });
});
