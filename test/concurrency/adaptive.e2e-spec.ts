import OpenAI from 'openai';
import { chatLine, toJsonl, uploadBatchFile, waitForBatch } from '../support/batch-helpers';
import { RELAXED_LIMITS, useApp } from '../support/app-fixture';
import { sampleValue, TENANT_A } from '../support/harness';
import { startApp, TestApp } from '../support/test-app';

/**
 * End to end: the whole app with default settings against a KV-bound simulator. The adaptive
 * controller must keep vLLM's waiting queue small while running near the knee, where a fixed limit
 * far too high floods the queue for no more throughput. Ratios with margins, not timings.
 */
describe('adaptive in-flight limit (end to end, KV-bound simulator)', () => {
  // 512 blocks of 16 tokens; each request holds 30 blocks from admission to its end (464-token
  // prompt, 16 tokens out): the cache runs 17 of them at once.
  const BLOCKS = 512;
  const KNEE = Math.floor(BLOCKS / 30);
  const N = 600;

  // Plain ASCII answers: the simulated GPU shares this process's CPU with the service, and the
  // multi-byte answers (covered by the batches and storage suites) cost enough CPU per request to
  // slow its steps and blur what this test measures, the controller's level against the knee.
  const { sim, env } = useApp({
    app: false,
    simulator: { numGpuBlocks: BLOCKS, stepBaseMs: 4, stepPerSeqMs: 0.05, asciiOnly: true },
    env: RELAXED_LIMITS,
  });

  const lines = toJsonl(
    Array.from({ length: N }, (_, i) => {
      const head = `question ${i}: `;
      return chatLine(`req-${i}`, head + 'x'.repeat(464 * 4 - head.length), { max_tokens: 16 });
    }),
  );

  /** Runs the batch on a fresh app with `overrides`; returns req/s and the simulator's levels. */
  async function run(overrides: Record<string, string>) {
    const app: TestApp = await startApp({ ...env.env, ...overrides });
    try {
      const client = new OpenAI({ baseURL: `${app.url}/v1`, apiKey: TENANT_A.key, maxRetries: 0 });
      const fileId = await uploadBatchFile(client, lines);
      sim.resetStats();
      const t0 = performance.now();
      const created = await client.batches.create({
        input_file_id: fileId,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      const done = await waitForBatch(client, created.id, undefined, 25_000);
      const seconds = (performance.now() - t0) / 1000;
      expect(done.request_counts).toEqual({ total: N, completed: N, failed: 0 });
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      const limit = sampleValue(metrics, 'vllm_batch_concurrency_global_limit') ?? NaN;
      const result = { rate: N / seconds, stats: sim.stats(), limit };
      if (process.env.DEBUG_CONCURRENCY) console.log(JSON.stringify({ overrides, ...result }));
      return result;
    } finally {
      await app.close();
    }
  }

  it('keeps the waiting queue small near the knee; a fixed limit of 500 floods it for no more throughput', async () => {
    const adaptive = await run({});
    const flooded = await run({ WORKER_CONCURRENCY_MODE: 'fixed', WORKER_FIXED_INFLIGHT: '500' });

    // Adaptive: the running batch near the knee, vLLM's waiting queue a small fraction of it.
    expect(adaptive.stats.meanRunning).toBeGreaterThan(0.7 * KNEE);
    expect(adaptive.stats.meanWaiting).toBeLessThan(0.2 * adaptive.stats.meanRunning);
    expect(adaptive.stats.preemptions).toBeLessThanOrEqual(0.01 * N);
    expect(adaptive.limit).toBeGreaterThanOrEqual(KNEE - 2);
    expect(adaptive.limit).toBeLessThanOrEqual(KNEE + 6);

    // Fixed far too high: everything waits inside vLLM.
    expect(flooded.stats.meanWaiting).toBeGreaterThan(5 * flooded.stats.meanRunning);
    // ...and it is not faster (the cache is the bound either way).
    expect(adaptive.rate).toBeGreaterThan(0.85 * flooded.rate);
  }, 60_000);

  it('yields to interactive requests that queue in vLLM beside the batch', async () => {
    const app: TestApp = await startApp(env.env);
    try {
      const client = new OpenAI({ baseURL: `${app.url}/v1`, apiKey: TENANT_A.key, maxRetries: 0 });
      const big = toJsonl(
        Array.from({ length: 2000 }, (_, i) =>
          chatLine(`big-${i}`, 'x'.repeat(464 * 4 - 12), { max_tokens: 16 }),
        ),
      );
      const created = await client.batches.create({
        input_file_id: await uploadBatchFile(client, big),
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
        const text = await (await fetch(`${app.url}/metrics`)).text();
        return sampleValue(text, name, labels) ?? NaN;
      };
      // Let the batch settle at the knee: wait on its progress, not on the clock (a loaded
      // machine may take seconds to validate 2000 lines before the first one is sent).
      for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
        const b = await client.batches.retrieve(created.id);
        if ((b.request_counts?.completed ?? 0) >= 100) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const settled = await metric('vllm_batch_concurrency_global_limit');
      const yieldedSoFar = async () =>
        (await metric('vllm_batch_concurrency_limit_changes_total', { reason: 'interactive_traffic' })) || 0;
      // An interactive client keeps 12 requests in flight straight to vLLM until the service has
      // yielded (at least 3 s, at most 15 s; /metrics is rendered at most once a second).
      const started = Date.now();
      let interactive = 0;
      let yielded = 0;
      const limits: number[] = [];
      const sampler = setInterval(
        () =>
          void (async () => {
            limits.push(await metric('vllm_batch_concurrency_global_limit'));
            yielded = await yieldedSoFar();
          })(),
        250,
      );
      const keepGoing = () => Date.now() - started < 3000 || (yielded < 1 && Date.now() - started < 15_000);
      await Promise.all(
        Array.from({ length: 12 }, async () => {
          while (keepGoing()) {
            const res = await fetch(`${sim.url}/chat/completions`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({
                model: 'sim-model',
                messages: [{ role: 'user', content: 'hi' }],
                max_tokens: 4,
              }),
            });
            await res.text();
            interactive++;
          }
        }),
      );
      clearInterval(sampler);
      yielded = await yieldedSoFar();
      expect(interactive).toBeGreaterThan(0);
      expect(yielded).toBeGreaterThanOrEqual(1);
      expect(Math.min(...limits)).toBeLessThan(settled);
      await client.batches.cancel(created.id);
      await waitForBatch(client, created.id, undefined, 20_000);
    } finally {
      await app.close();
    }
  }, 60_000);
});
