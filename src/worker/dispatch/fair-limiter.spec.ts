import { FairLimiter, urgencyWeight } from './fair-limiter';

const HOUR = 3600_000;
const NOW = 1_700_000_000_000;

/** Keeps `want` acquires pending per batch (as BatchDispatch does: one at a time per batch). */
async function grantsOver(
  limiter: FairLimiter,
  batches: Array<{ key: string; tenant?: string; expiresAtMs?: number }>,
  grants: number,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let total = 0;
  await new Promise<void>((done) => {
    const loop = (b: { key: string; tenant?: string; expiresAtMs?: number }): void => {
      void limiter.acquire(b.key, { tenant: b.tenant, expiresAtMs: b.expiresAtMs }).then(() => {
        counts[b.key] = (counts[b.key] ?? 0) + 1;
        if (++total >= grants) return done();
        loop(b);
        // The request finishes at once: the slot goes to whoever is next in line.
        setImmediate(() => limiter.release());
      });
    };
    for (const b of batches) loop(b);
  });
  return counts;
}

/** grantsOver on a limiter of one slot, held by `holder` and released once the batches queue. */
async function grantsWhileShort(
  batches: Array<{ key: string; tenant?: string; expiresAtMs?: number }>,
  grants: number,
  holder = 'x',
): Promise<Record<string, number>> {
  const limiter = new FairLimiter(1, () => NOW);
  await limiter.acquire(holder);
  setImmediate(() => limiter.release());
  return grantsOver(limiter, batches, grants);
}

describe('FairLimiter', () => {
  it('grants at once below the limit and queues at it', async () => {
    const limiter = new FairLimiter(2, () => NOW);
    await limiter.acquire('a');
    await limiter.acquire('a');
    let third = false;
    const pending = limiter.acquire('b').then(() => (third = true));
    await new Promise((r) => setImmediate(r));
    expect(third).toBe(false);
    expect(limiter.queued).toBe(1);
    limiter.release();
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
    const limiter = new FairLimiter(1, () => NOW);
    await limiter.acquire('a');
    const gone = limiter.acquire('b');
    const kept = limiter.acquire('c');
    limiter.abandon('b', new Error('cancelled'));
    await expect(gone).rejects.toThrow('cancelled');
    limiter.release();
    await kept;
    expect(limiter.active).toBe(1);
    limiter.forget('b');
    limiter.forget('c');
  });

  it('applies a new limit at once, granting waiters when it grows', async () => {
    const limiter = new FairLimiter(1, () => NOW);
    await limiter.acquire('a');
    const more = [limiter.acquire('a'), limiter.acquire('b'), limiter.acquire('c')];
    limiter.setLimit(4);
    await Promise.all(more);
    expect(limiter.active).toBe(4);
    limiter.setLimit(0.5);
    expect(limiter.limit).toBe(1);
  });
});
