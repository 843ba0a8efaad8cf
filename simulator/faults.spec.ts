import { postToSimulator as post, simulatorRoot as root } from '../test/support/simulator-http';
import type OpenAI from 'openai';
import type { RunningSimulator } from './simulator';
import { chat, useTestSimulator, sleep, until, withSim, vllmErrorBody } from './spec-helpers';

describe('simulator faults', () => {
  let sim: RunningSimulator;
  let client: OpenAI;

  useTestSimulator((started) => ({ sim, client } = started));

  it('injects 500s per attempt at failRate', async () => {
    sim.setFaults({ failRate: 1 });
    const failed = await post(sim, '/v1/chat/completions', chat('x'));
    expect(failed.status).toBe(500);
    expect(failed.json).toEqual(
      vllmErrorBody(500, 'InternalServerError', 'Internal server error (simulated)'),
    );
    sim.setFaults({ failRate: 0.5 });
    let ok = 0;
    for (let i = 0; i < 200; i++) {
      const r = await post(sim, '/v1/completions', { prompt: 'same request', max_tokens: 1 });
      if (r.status === 200) ok++;
    }
    expect(ok).toBeGreaterThan(60);
    expect(ok).toBeLessThan(140);
    expect(sim.stats().failedInjected).toBe(1 + 200 - ok);
    // /health and /v1/models are not affected
    expect((await fetch(root(sim) + '/health')).status).toBe(200);
  });

  it('injects 429s', async () => {
    sim.setFaults({ status429Rate: 1 });
    const r = await post(sim, '/v1/chat/completions', chat('x'));
    expect(r.status).toBe(429);
    expect(r.json).toMatchObject({ object: 'error', code: 429 });
    expect(r.headers.get('retry-after')).toBe('1');
    await expect(client.chat.completions.create(chat('x') as never)).rejects.toMatchObject({ status: 429 });
    expect(sim.stats().injected429).toBe(2);
  });

  it('hangs requests until the client gives up, and counts the abort', async () => {
    sim.setFaults({ hangRate: 1 });
    await expect(
      post(sim, '/v1/chat/completions', chat('x'), { signal: AbortSignal.timeout(100) }),
    ).rejects.toThrow();
    await until(() => sim.stats().aborted === 1);
    expect(sim.stats()).toMatchObject({ injectedHangs: 1, aborted: 1, inFlight: 0, completed: 0 });
  });

  it('adds extraLatencyMs to responses', async () => {
    sim.setFaults({ extraLatencyMs: 120 });
    const t0 = performance.now();
    const r = await fetch(root(sim) + '/health');
    expect(r.status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
  });

  it('outage in 503 mode answers 503 on everything, then recovers', async () => {
    sim.setFaults({ outageMode: '503', outageMs: 150 });
    expect((await fetch(root(sim) + '/health')).status).toBe(503);
    expect((await fetch(sim.url + '/models')).status).toBe(503);
    const r = await post(sim, '/v1/chat/completions', chat('x'));
    expect(r.status).toBe(503);
    expect(r.json).toMatchObject({ object: 'error', code: 503 });
    expect(sim.faults().outageMs).toBeGreaterThan(0);
    await sleep(200);
    expect((await fetch(root(sim) + '/health')).status).toBe(200);
    expect(sim.stats().outageRejected).toBe(3);
  });

  it('outage in refuse mode refuses connections and cuts open ones, then recovers', async () => {
    sim.setFaults({ hangRate: 1 });
    const hanging = post(sim, '/v1/chat/completions', chat('x')).then(
      () => 'answered',
      (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message,
    );
    await until(() => sim.stats().injectedHangs === 1);
    sim.setFaults({ hangRate: 0, outageMode: 'refuse', outageMs: 200 });
    expect(await hanging).toMatch(/ECONNRESET|UND_ERR_SOCKET|other side closed/);
    const refused = await fetch(root(sim) + '/health').then(
      () => 'connected',
      (e: Error & { cause?: { code?: string } }) => e.cause?.code,
    );
    expect(refused).toBe('ECONNREFUSED');
    await sleep(300);
    expect((await fetch(root(sim) + '/health')).status).toBe(200);
    expect(sim.stats()).toMatchObject({ droppedByOutage: 1, aborted: 0 });
  });

  it('setFaults with outageMs 0 ends an outage at once', async () => {
    sim.setFaults({ outageMode: 'refuse', outageMs: 60_000 });
    sim.setFaults({ outageMs: 0 });
    await sleep(10);
    expect((await fetch(root(sim) + '/health')).status).toBe(200);
  });
});

describe('simulator start-up outage', () => {
  it('faults.outageMs at creation refuses connections first (like vLLM while loading)', async () => {
    await withSim({ faults: { outageMode: 'refuse', outageMs: 150 } }, async (sim) => {
      const first = await fetch(root(sim) + '/health').then(
        (r) => r.status,
        (e: Error & { cause?: { code?: string } }) => e.cause?.code,
      );
      expect(first).toBe('ECONNREFUSED');
      await until(() => sim.faults().outageMs === 0);
      await sleep(20);
      expect((await fetch(root(sim) + '/health')).status).toBe(200);
    });
  });
});
