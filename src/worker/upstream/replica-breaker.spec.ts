import { FAILURES_TO_OPEN, ReplicaBreaker } from './replica-breaker';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('ReplicaBreaker', () => {
  it('opens at once when the replica is unreachable and closes when its health probe answers', async () => {
    let healthy = false;
    let probes = 0;
    const changes: boolean[] = [];
    const breaker = new ReplicaBreaker(
      'http://a/v1',
      async () => {
        probes++;
        return healthy;
      },
      (open) => changes.push(open),
    );
    expect(breaker.isOpen).toBe(false);
    breaker.reportDown('connect ECONNREFUSED');
    expect(breaker.isOpen).toBe(true);
    await tick(50);
    expect(probes).toBe(1); // probed at once
    healthy = true;
    for (let i = 0; i < 30 && breaker.isOpen; i++) await tick(100);
    expect(breaker.isOpen).toBe(false);
    expect(changes).toEqual([true, false]);
    breaker.dispose();
  });

  it('opens after repeated failed answers, not after one, and half-opens after coming back', () => {
    const breaker = new ReplicaBreaker('http://a/v1', async () => false);
    for (let i = 1; i < FAILURES_TO_OPEN; i++) breaker.reportFailure('HTTP 500');
    expect(breaker.isOpen).toBe(false);
    breaker.reportUp(); // a success in between resets the count
    for (let i = 1; i < FAILURES_TO_OPEN; i++) breaker.reportFailure('HTTP 500');
    expect(breaker.isOpen).toBe(false);
    breaker.reportFailure('HTTP 500');
    expect(breaker.isOpen).toBe(true);
    breaker.reportUp(); // an answer closes it...
    expect(breaker.isOpen).toBe(false);
    breaker.reportFailure('timeout'); // ...and the next failure opens it again
    expect(breaker.isOpen).toBe(true);
    breaker.dispose();
  });
});
