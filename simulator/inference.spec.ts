import { postToSimulator as post, simulatorRoot as root } from '../test/support/simulator-http';
import { simulatedAnswer } from './answers';
import { until, withSim } from './spec-helpers';

describe('simulator engine through HTTP', () => {
  it('runs at most maxNumSeqs at once and queues the rest', async () => {
    await withSim({ stepBaseMs: 10, stepPerSeqMs: 0, maxNumSeqs: 4 }, async (sim) => {
      const all = Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          post(sim, '/v1/completions', { prompt: `n${i}`, max_tokens: 10 }),
        ),
      );
      // a wave of 4 takes 10 steps × 10 ms: look while the first wave runs
      await until(() => sim.stats().received === 12 && sim.stats().running === 4);
      const metrics = await (await fetch(root(sim) + '/metrics')).text();
      expect(metrics).toMatch(/^vllm:num_requests_running\{[^}]*\} 4\.0$/m);
      expect(metrics).toMatch(/^vllm:num_requests_waiting\{[^}]*\} 8\.0$/m);
      const results = await all;
      results.forEach((r, i) => expect(r.json.choices[0].text).toBe(simulatedAnswer(`n${i}`)));
      const s = sim.stats();
      expect(s).toMatchObject({ completed: 12, maxRunning: 4, running: 0, waiting: 0 });
      expect(s.maxWaiting).toBeGreaterThanOrEqual(8); // 11 when all arrive before the first step
      expect(s.meanRunning).toBeGreaterThan(0);
    });
  });

  it('preempts when decode outgrows a small KV cache', async () => {
    // 8 blocks × 16 = 128 tokens; each request grows to 4 + 60 tokens = 4 blocks: only 2 fit at the end
    await withSim({ stepBaseMs: 1, stepPerSeqMs: 0, numGpuBlocks: 8 }, async (sim) => {
      await Promise.all(
        Array.from({ length: 6 }, () =>
          post(sim, '/v1/completions', { prompt: 'abcdefghijklmnop', max_tokens: 60 }),
        ),
      );
      const s = sim.stats();
      expect(s.completed).toBe(6);
      expect(s.preemptions).toBeGreaterThan(0);
      expect(s.generationTokens).toBe(360);
      const metrics = await (await fetch(root(sim) + '/metrics')).text();
      expect(metrics).toMatch(/^vllm:num_preemptions_total\{[^}]*\} [1-9]/m);
    });
  });

  it('a client disconnect removes a waiting request from the engine', async () => {
    await withSim({ stepBaseMs: 5, stepPerSeqMs: 0, maxNumSeqs: 1 }, async (sim) => {
      const first = post(sim, '/v1/completions', { prompt: 'first', max_tokens: 30 });
      await until(() => sim.stats().running === 1);
      const controller = new AbortController();
      const second = post(
        sim,
        '/v1/completions',
        { prompt: 'second', max_tokens: 30 },
        { signal: controller.signal },
      );
      await until(() => sim.stats().waiting === 1);
      controller.abort();
      await expect(second).rejects.toThrow();
      await until(() => sim.stats().aborted === 1);
      expect(sim.stats()).toMatchObject({ waiting: 0, running: 1 });
      expect((await first).status).toBe(200);
      expect(sim.stats()).toMatchObject({ completed: 1, generationTokens: 30 });
    });
  });

  it('admits lower priority values first when priority scheduling is on', async () => {
    await withSim(
      { stepBaseMs: 2, stepPerSeqMs: 0, maxNumSeqs: 1, priorityScheduling: true },
      async (sim) => {
        const order: string[] = [];
        const send = (name: string, priority: number) =>
          post(sim, '/v1/completions', { prompt: name, max_tokens: 5, priority }).then((r) => {
            expect(r.status).toBe(200);
            order.push(name);
          });
        // the blocker runs 100 steps (200 ms): the others queue up behind it meanwhile
        const blocker = post(sim, '/v1/completions', { prompt: 'blocker', max_tokens: 100 }).then(() => {
          order.push('blocker');
        });
        await until(() => sim.stats().running === 1);
        const rest = [send('low', 10), send('high', -1), send('mid', 3)];
        await until(() => sim.stats().waiting === 3);
        await Promise.all([blocker, ...rest]);
        expect(order).toEqual(['blocker', 'high', 'mid', 'low']);
      },
    );
  });

  it('answers 503 when the waiting queue is at maxWaiting', async () => {
    await withSim({ stepBaseMs: 5, stepPerSeqMs: 0, maxNumSeqs: 1, maxWaiting: 1 }, async (sim) => {
      const running = post(sim, '/v1/completions', { prompt: 'a', max_tokens: 10 });
      await until(() => sim.stats().running === 1);
      const waiting = post(sim, '/v1/completions', { prompt: 'b', max_tokens: 10 });
      await until(() => sim.stats().waiting === 1);
      const full = await post(sim, '/v1/completions', { prompt: 'c', max_tokens: 10 });
      expect(full.status).toBe(503);
      expect(full.json).toMatchObject({ object: 'error', type: 'ServiceUnavailableError', code: 503 });
      expect((await running).status).toBe(200);
      expect((await waiting).status).toBe(200);
    });
  });
});
