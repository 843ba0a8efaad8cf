import { postToSimulator as post, simulatorRoot as root } from '../test/support/simulator-http';
import OpenAI from 'openai';
import { simulatedAnswer } from './answers';
import { createSimulator, embeddingFor, type RunningSimulator, type SimulatorOptions } from './simulator';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll until `cond` holds (tests wait on the simulator's state, not on guessed delays). */
async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(2);
  }
}

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'sim-model',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content },
  ],
  ...extra,
});

async function withSim<T>(
  opts: Partial<SimulatorOptions>,
  fn: (sim: RunningSimulator) => Promise<T>,
): Promise<T> {
  const sim = await createSimulator({ port: 0, ...opts });
  try {
    return await fn(sim);
  } finally {
    await sim.close();
  }
}

describe('simulator HTTP surface', () => {
  let sim: RunningSimulator;
  let client: OpenAI;

  beforeAll(async () => {
    sim = await createSimulator({ port: 0, stepBaseMs: 1, stepPerSeqMs: 0 });
    client = new OpenAI({ baseURL: sim.url, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => sim.close());
  beforeEach(() => {
    sim.setFaults({ failRate: 0, hangRate: 0, status429Rate: 0, extraLatencyMs: 0, outageMs: 0 });
    sim.setOptions({ outputTokens: null });
    sim.resetStats();
  });

  it('listens on a free port and exposes a /v1 base url', () => {
    expect(sim.port).toBeGreaterThan(0);
    expect(sim.url).toBe(`http://127.0.0.1:${sim.port}/v1`);
  });

  it('GET /health answers 200 with an empty body', async () => {
    const res = await fetch(root(sim) + '/health');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('GET /v1/models lists the served models in vLLM shape', async () => {
    const res = await fetch(sim.url + '/models');
    const body = (await res.json()) as { object: string; data: Record<string, unknown>[] };
    expect(body.object).toBe('list');
    expect(body.data).toEqual([
      {
        id: 'sim-model',
        object: 'model',
        created: expect.any(Number),
        owned_by: 'vllm',
        root: 'sim-model',
        parent: null,
        max_model_len: 4096,
      },
    ]);
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual(['sim-model']);
  });

  it('chat completions echo the last message (openai SDK)', async () => {
    const content = 'héllo wörld';
    const r = await client.chat.completions.create({
      model: 'sim-model',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content },
      ],
      max_tokens: 7,
    });
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.object).toBe('chat.completion');
    expect(r.model).toBe('sim-model');
    expect(r.choices[0].message).toEqual({ role: 'assistant', content: simulatedAnswer(content) });
    expect(r.choices[0].finish_reason).toBe('stop');
    const promptTokens = Math.ceil(Buffer.byteLength('be brief\n' + content) / 4);
    expect(r.usage).toMatchObject({
      prompt_tokens: promptTokens,
      completion_tokens: 7,
      total_tokens: promptTokens + 7,
    });
  });

  it('chat uses defaultMaxTokens, array contents, max_completion_tokens and outputTokens', async () => {
    const plain = await post(sim, '/v1/chat/completions', chat('x'));
    expect(plain.json.usage.completion_tokens).toBe(16);

    const parts = await post(sim, '/v1/chat/completions', {
      model: 'sim-model',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
      ],
      max_completion_tokens: 3,
    });
    expect(parts.json.choices[0].message.content).toBe(simulatedAnswer('a\nb'));
    expect(parts.json.usage.completion_tokens).toBe(3);

    sim.setOptions({ outputTokens: 5 });
    const short = await post(sim, '/v1/chat/completions', chat('x', { max_tokens: 50 }));
    expect(short.json.usage.completion_tokens).toBe(5);
    expect(short.json.choices[0].finish_reason).toBe('stop');
    const cut = await post(sim, '/v1/chat/completions', chat('x', { max_tokens: 2 }));
    expect(cut.json.usage.completion_tokens).toBe(2);
    expect(cut.json.choices[0].finish_reason).toBe('length');
  });

  it('completions echo the prompt (first of a list)', async () => {
    const r = await client.completions.create({ model: 'sim-model', prompt: 'once upon', max_tokens: 4 });
    expect(r.id).toMatch(/^cmpl-/);
    expect(r.object).toBe('text_completion');
    expect(r.choices[0].text).toBe(simulatedAnswer('once upon'));
    expect(r.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    const list = await post(sim, '/v1/completions', { model: 'sim-model', prompt: ['first', 'second'] });
    expect(list.json.choices[0].text).toBe(simulatedAnswer('first'));
    const ids = await post(sim, '/v1/completions', { model: 'sim-model', prompt: [1, 2, 3], max_tokens: 1 });
    expect(ids.json.usage.prompt_tokens).toBe(3);
  });

  it('embeddings are deterministic per input, in float and base64 (openai SDK default)', async () => {
    const viaSdk = await client.embeddings.create({ model: 'sim-model', input: ['alpha', 'beta', 'alpha'] });
    expect(viaSdk.object).toBe('list');
    expect(viaSdk.data.map((d) => d.index)).toEqual([0, 1, 2]);
    expect(viaSdk.data[0].embedding).toHaveLength(8);
    expect(viaSdk.data[0].embedding).toEqual(embeddingFor('alpha'));
    expect(viaSdk.data[2].embedding).toEqual(viaSdk.data[0].embedding);
    expect(viaSdk.data[1].embedding).not.toEqual(viaSdk.data[0].embedding);
    expect(viaSdk.usage).toEqual({ prompt_tokens: 2 + 1 + 2, total_tokens: 5 }); // ceil(bytes / 4) per input

    const viaFetch = await post(sim, '/v1/embeddings', {
      model: 'sim-model',
      input: 'alpha',
      encoding_format: 'float',
    });
    expect(viaFetch.json.data).toEqual([{ object: 'embedding', index: 0, embedding: embeddingFor('alpha') }]);
    const norm = Math.hypot(...embeddingFor('alpha'));
    expect(norm).toBeCloseTo(1, 5);
  });

  it('answers errors in vLLM shape', async () => {
    const unknown = await post(sim, '/v1/chat/completions', { ...chat('x'), model: 'nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({
      object: 'error',
      message: 'The model `nope` does not exist.',
      type: 'NotFoundError',
      param: null,
      code: 404,
    });
    await expect(
      client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({
      status: 404,
    });

    const long = await post(sim, '/v1/chat/completions', {
      model: 'sim-model',
      messages: [{ role: 'user', content: 'x'.repeat(16_000) }],
      max_tokens: 200,
    });
    expect(long.status).toBe(400);
    expect(long.json).toMatchObject({ object: 'error', type: 'BadRequestError', code: 400, param: null });
    expect(long.json.message).toBe(
      "This model's maximum context length is 4096 tokens. However, you requested 4200 tokens (4000 in the messages, 200 in the completion). Please reduce the length of the messages or completion.",
    );

    const badJson = await post(sim, '/v1/chat/completions', '{"model": ');
    expect(badJson.status).toBe(400);
    expect(badJson.json.type).toBe('BadRequestError');

    const noMessages = await post(sim, '/v1/chat/completions', { model: 'sim-model' });
    expect(noMessages.status).toBe(400);
    const noPrompt = await post(sim, '/v1/completions', { model: 'sim-model' });
    expect(noPrompt.status).toBe(400);
    const noInput = await post(sim, '/v1/embeddings', { model: 'sim-model' });
    expect(noInput.status).toBe(400);

    const priority = await post(sim, '/v1/chat/completions', chat('x', { priority: 3 }));
    expect(priority.status).toBe(400);
    expect(priority.json.message).toBe('Got priority 3 but Priority scheduling is not enabled.');

    const stream = await post(sim, '/v1/chat/completions', chat('x', { stream: true }));
    expect(stream.status).toBe(400);
    const zero = await post(sim, '/v1/chat/completions', chat('x', { max_tokens: 0 }));
    expect(zero.status).toBe(400);

    const notFound = await fetch(root(sim) + '/v1/nothing');
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toEqual({ detail: 'Not Found' });
    const wrongMethod = await fetch(sim.url + '/chat/completions');
    expect(wrongMethod.status).toBe(405);

    expect(sim.stats().rejected).toBe(10);
  });

  it('exposes vLLM metrics with model_name labels', async () => {
    await post(sim, '/v1/chat/completions', chat('metrics please', { max_tokens: 3 }));
    const res = await fetch(root(sim) + '/metrics');
    expect(res.status).toBe(200);
    const text = await res.text();
    const labels = '{model_name="sim-model",engine="0"}';
    for (const name of [
      'vllm:num_requests_running',
      'vllm:num_requests_waiting',
      'vllm:kv_cache_usage_perc',
      'vllm:gpu_cache_usage_perc',
      'vllm:num_preemptions_total',
      'vllm:prompt_tokens_total',
      'vllm:generation_tokens_total',
    ]) {
      expect(text).toMatch(new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} \\d`, 'm'));
    }
    expect(text).toMatch(
      /^vllm:request_success_total\{model_name="sim-model",engine="0",finished_reason="stop"\} [1-9]/m,
    );
    expect(text).toMatch(/^vllm:cache_config_info\{.*block_size="16".*num_gpu_blocks="2048".*\} 1\.0$/m);
    expect(text).toMatch(/^vllm:generation_tokens_total\{[^}]*\} [1-9]/m);
  });

  it('counts stats', async () => {
    const before = Date.now();
    await post(sim, '/v1/chat/completions', chat('abcd', { max_tokens: 2 }));
    await post(sim, '/v1/completions', { prompt: 'abcd', max_tokens: 3 }); // model defaults to the served one
    await post(sim, '/v1/embeddings', { input: ['a', 'b'] });
    await fetch(root(sim) + '/health');
    const s = sim.stats();
    expect(s).toMatchObject({
      received: 3,
      completed: 3,
      failedInjected: 0,
      aborted: 0,
      running: 0,
      waiting: 0,
      generationTokens: 5,
      inFlight: 0,
    });
    expect(s.byEndpoint).toEqual({
      '/v1/chat/completions': 1,
      '/v1/completions': 1,
      '/v1/embeddings': 1,
      '/health': 1,
    });
    expect(s.promptTokens).toBe(Math.ceil(Buffer.byteLength('be brief\nabcd') / 4) + 1 + 2);
    expect(s.lastRequestAt).toBeGreaterThanOrEqual(before);
    expect(s.maxInFlight).toBeGreaterThanOrEqual(1);
    expect(s.maxRunning).toBeGreaterThanOrEqual(1);
    sim.resetStats();
    expect(sim.stats()).toMatchObject({
      received: 0,
      completed: 0,
      promptTokens: 0,
      lastRequestAt: null,
      byEndpoint: {},
    });
  });

  it('injects 500s per attempt at failRate', async () => {
    sim.setFaults({ failRate: 1 });
    const failed = await post(sim, '/v1/chat/completions', chat('x'));
    expect(failed.status).toBe(500);
    expect(failed.json).toEqual({
      object: 'error',
      message: 'Internal server error (simulated)',
      type: 'InternalServerError',
      param: null,
      code: 500,
    });
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

  it('control endpoints: stats, faults, options, reset', async () => {
    const base = root(sim);
    const faults = await post(sim, '/sim/faults', { failRate: 1 });
    expect(faults.json).toMatchObject({ failRate: 1 });
    expect((await post(sim, '/v1/completions', { prompt: 'x' })).status).toBe(500);
    const cleared = await post(sim, '/sim/faults', { failRate: null });
    expect(cleared.json.failRate).toBe(0);
    expect((await post(sim, '/v1/completions', { prompt: 'x' })).status).toBe(200);

    const opts = await post(sim, '/sim/options', { outputTokens: 2 });
    expect(opts.json.outputTokens).toBe(2);
    const r = await post(sim, '/v1/completions', { prompt: 'x', max_tokens: 9 });
    expect(r.json.usage.completion_tokens).toBe(2);

    const stats = (await (await fetch(base + '/sim/stats')).json()) as Record<string, unknown>;
    expect(stats).toMatchObject({ received: 3, completed: 2, failedInjected: 1 });
    expect(stats.byEndpoint).not.toHaveProperty('/sim/stats');

    const reset = await post(sim, '/sim/reset', {});
    expect(reset.json).toMatchObject({ received: 0 });
    expect((await post(sim, '/sim/options', { maxModelLen: -1 })).status).toBe(400);
    expect((await post(sim, '/sim/faults', '{oops')).status).toBe(400);
    expect((await fetch(base + '/sim/nothing')).status).toBe(404);
  });
});

describe('simulator options', () => {
  it('metrics: false hides /metrics; legacyMetricNames drops the new gauge name', async () => {
    await withSim({ metrics: false }, async (sim) => {
      expect((await fetch(root(sim) + '/metrics')).status).toBe(404);
    });
    await withSim({ legacyMetricNames: true, models: ['m1', 'm2'], numGpuBlocks: 100 }, async (sim) => {
      const text = await (await fetch(root(sim) + '/metrics')).text();
      expect(text).not.toContain('vllm:kv_cache_usage_perc');
      expect(text).toContain('vllm:gpu_cache_usage_perc{model_name="m1",engine="0"} 0.0');
      expect(text).toContain('num_gpu_blocks="100"');
      const models = await post(sim, '/v1/chat/completions', { ...chat('x'), model: 'm2' });
      expect(models.json.model).toBe('m2');
    });
  });

  it('answers in several scripts by default, varied in length, and plain ASCII on request', async () => {
    await withSim({ instant: true }, async (sim) => {
      const answers = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const r = await post(sim, '/v1/chat/completions', chat(`q${i}`));
          // The body is UTF-8 with the characters themselves (as vLLM's JSON), not \u escapes.
          expect(Buffer.byteLength(r.text)).toBeGreaterThan(r.text.length);
          return r.json.choices[0].message.content as string;
        }),
      );
      answers.forEach((a, i) => expect(a.startsWith(`echo: q${i}\n`)).toBe(true));
      const bytesPerChar = answers.map((a) => Buffer.byteLength(a) / a.length);
      expect(Math.min(...bytesPerChar)).toBeGreaterThan(1);
      expect(new Set(answers.map((a) => a.length)).size).toBeGreaterThan(5);
      for (const script of [
        /[\u4e00-\u9fff]/,
        /[\u0600-\u06ff]/,
        /\p{Extended_Pictographic}/u,
        /[\u{10000}-\u{10ffff}]/u,
      ])
        expect(answers.some((a) => script.test(a))).toBe(true);
    });
    await withSim({ instant: true, asciiOnly: true }, async (sim) => {
      const r = await post(sim, '/v1/completions', { model: 'sim-model', prompt: 'plain' });
      expect(r.json.choices[0].text).toBe('echo: plain');
    });
  });

  it("errorFormat 'nested' answers errors in the newer {error: {...}} shape", async () => {
    await withSim({ errorFormat: 'nested' }, async (sim) => {
      const r = await post(sim, '/v1/chat/completions', { ...chat('x'), model: 'nope' });
      expect(r.status).toBe(404);
      expect(r.json).toEqual({
        error: { message: 'The model `nope` does not exist.', type: 'NotFoundError', param: null, code: 404 },
      });
    });
  });

  it('instant mode answers without the engine', async () => {
    await withSim({ instant: true }, async (sim) => {
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          post(sim, '/v1/completions', { prompt: `p${i}`, max_tokens: 1000 }),
        ),
      );
      expect(performance.now() - t0).toBeLessThan(2000);
      const s = sim.stats();
      expect(s).toMatchObject({ completed: 200, maxRunning: 0, generationTokens: 200_000 });
    });
  });

  it('two simulators on port 0 get different ports', async () => {
    await withSim({}, async (a) => {
      await withSim({}, async (b) => {
        expect(a.port).not.toBe(b.port);
      });
    });
  });

  it('close() resolves with requests still hanging', async () => {
    const sim = await createSimulator({ port: 0, faults: { hangRate: 1 } });
    const pending = post(sim, '/v1/chat/completions', chat('x')).catch(() => 'cut');
    await until(() => sim.stats().injectedHangs === 1);
    await sim.close();
    expect(await pending).toBe('cut');
  });
});

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
