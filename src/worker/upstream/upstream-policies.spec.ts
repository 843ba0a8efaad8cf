import { lineRetryPolicy, unlessAborted, untilTrue } from './upstream-policies';

describe('upstream policies', () => {
  it('retries only retryable results, up to the number of attempts in all', async () => {
    const policy = lineRetryPolicy((r) => r === 'again', 3, 1, 4);
    let calls = 0;
    await expect(policy.execute(() => (++calls, 'again'))).resolves.toBe('again');
    expect(calls).toBe(3);
    calls = 0;
    await expect(policy.execute(() => (++calls, 'final'))).resolves.toBe('final');
    expect(calls).toBe(1);
  });

  it('spaces attempts by exponential backoff with half jitter, capped', async () => {
    const delays: number[] = [];
    const policy = lineRetryPolicy(() => true, 5, 10, 25);
    policy.onRetry((e) => delays.push(e.delay));
    await policy.execute(() => 'again');
    // Ceilings 10, 20, 25, 25: each delay is between half the ceiling and the ceiling.
    expect(delays).toHaveLength(4);
    [10, 20, 25, 25].forEach((ceiling, i) => {
      expect(delays[i]).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
      expect(delays[i]).toBeLessThanOrEqual(ceiling);
    });
  });

  it('lets go at once when the signal aborts, whatever the backoff still waits', async () => {
    const ac = new AbortController();
    const policy = lineRetryPolicy(() => true, 5, 60_000, 60_000);
    const run = unlessAborted(
      policy.execute(() => 'again', ac.signal),
      ac.signal,
    );
    setTimeout(() => ac.abort(), 10);
    await expect(run).resolves.toBeNull();
  });

  it('probes until the probe answers true', async () => {
    let calls = 0;
    await expect(untilTrue(1).execute(async () => ++calls >= 3)).resolves.toBe(true);
    expect(calls).toBe(3);
  });
});
