import { UpstreamGate } from './upstream-gate';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('UpstreamGate', () => {
  it('is open until a failure is reported; then waiters hold until the health probe answers', async () => {
    let healthy = false;
    let probes = 0;
    const gate = new UpstreamGate(async () => {
      probes++;
      return healthy;
    });
    const signal = new AbortController().signal;
    await expect(gate.wait(signal)).resolves.toBeUndefined();

    gate.reportDown('connect ECONNREFUSED');
    expect(gate.isShut).toBe(true);
    let released = false;
    const waiting = gate.wait(signal).then(() => (released = true));
    await tick(50);
    expect(released).toBe(false);
    expect(probes).toBe(1); // probed at once

    healthy = true;
    await waiting; // next probe (≤ 1 s) opens it, waiters resume within the spread
    expect(gate.isShut).toBe(false);
    gate.close();
  });

  it('opens at once on any answer, and lets an aborted waiter go with a rejection', async () => {
    const gate = new UpstreamGate(async () => false);
    gate.reportDown('HTTP 503');
    const ac = new AbortController();
    const aborted = gate.wait(ac.signal);
    ac.abort();
    await expect(aborted).rejects.toThrow('aborted');
    const waiting = gate.wait(new AbortController().signal);
    gate.reportUp();
    await expect(waiting).resolves.toBeUndefined();
    gate.close();
  });
});
