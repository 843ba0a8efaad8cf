import { postToSimulator as post, simulatorRoot as root } from '../test/support/simulator-http';
import OpenAI from 'openai';
import { simulatedAnswer } from './answers';
import { chat, useTestSimulator, until, withSim, vllmErrorBody } from './spec-helpers';
import { createSimulator, embeddingFor, type RunningSimulator } from './simulator';

describe('simulator HTTP surface', () => {
  let sim: RunningSimulator;
  let client: OpenAI;

  useTestSimulator((started) => ({ sim, client } = started));

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

  it('outputTokensMax spreads answer lengths by prompt, the same prompt always the same length', async () => {
    sim.setOptions({ outputTokens: 2, outputTokensMax: 9 });
    const lengths: number[] = [];
    for (let i = 0; i < 24; i++) {
      const r = await post(sim, '/v1/chat/completions', chat(`question ${i} ✓`, { max_tokens: 100 }));
      lengths.push(r.json.usage.completion_tokens);
    }
    expect(Math.min(...lengths)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(9);
    expect(new Set(lengths).size).toBeGreaterThan(3);
    const again = await post(sim, '/v1/chat/completions', chat('question 5 ✓', { max_tokens: 100 }));
    expect(again.json.usage.completion_tokens).toBe(lengths[5]);
    const cut = await post(sim, '/v1/chat/completions', chat('question 5 ✓', { max_tokens: 1 }));
    expect(cut.json.usage.completion_tokens).toBe(1);
    expect(() => sim.setOptions({ outputTokensMax: 1 })).toThrow(RangeError);
    sim.setOptions({ outputTokens: 5, outputTokensMax: null });
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
    expect(unknown.json).toEqual(vllmErrorBody(404, 'NotFoundError', 'The model `nope` does not exist.'));
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
