import OpenAI from 'openai';
import { simulatedAnswer } from '../../simulator/answers';
import { pairTokens, scoreFor } from '../../simulator/scoring';
import { countTokens } from '../../simulator/simulator';
import {
  Json,
  LineSpec,
  readJsonlFile,
  toJsonl,
  uploadBatchFile,
  waitForBatch,
} from '../support/batch-helpers';
import { assertConforms } from '../support/openai-schema';
import { fixedInflight, RELAXED_LIMITS, useApp } from '../support/app-fixture';

type CreateEndpoint = OpenAI.Batches.BatchCreateParams['endpoint'];

const line = (customId: string, url: string, body: Record<string, unknown>): LineSpec => ({
  custom_id: customId,
  method: 'POST',
  url,
  body: { model: 'sim-model', ...body },
});

describe('Batch endpoints: /v1/responses, vLLM scoring, endpoints vLLM does not serve (official SDK)', () => {
  const { sim, client } = useApp({
    simulator: { stepBaseMs: 1, stepPerSeqMs: 0.01, outputTokens: 4 },
    env: {
      // /v1/completions left out on purpose: a deployment chooses its endpoints.
      BATCH_ENDPOINTS: '/v1/chat/completions,/v1/embeddings,/v1/responses,/v1/score,/v1/rerank',
      ...fixedInflight(16),
      ...RELAXED_LIMITS,
    },
  });

  afterEach(() => sim.setOptions({ unsupportedEndpoints: [] }));

  async function run(endpoint: string, lines: Array<LineSpec | string>): Promise<OpenAI.Batches.Batch> {
    const created = await client.batches.create({
      input_file_id: await uploadBatchFile(client, toJsonl(lines)),
      endpoint: endpoint as CreateEndpoint,
      completion_window: '24h',
    });
    expect(created.endpoint).toBe(endpoint);
    const done = await waitForBatch(client, created.id);
    assertConforms('Batch', done);
    return done;
  }

  it('runs a /v1/responses batch: each output line carries the Response object, usage sums Responses usage', async () => {
    const inputs = ['Bonjour, ça va ?', 'What is 2 + 2?', '日本語で答えてください', 'Emoji 🙂 please'];
    const lines = inputs.map((input, i) => line(`r${i}`, '/v1/responses', { input, max_output_tokens: 8 }));
    // An input given as a list of message items, with instructions.
    lines.push(
      line('items', '/v1/responses', {
        instructions: 'be brief',
        input: [
          { role: 'user', content: 'first' },
          { role: 'user', content: [{ type: 'input_text', text: 'second 你好' }] },
        ],
      }),
    );
    const done = await run('/v1/responses', lines);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 5, completed: 5, failed: 0 });
    expect(done.error_file_id).toBeNull();

    const out = await readJsonlFile(client, done.output_file_id);
    expect(out).toHaveLength(5);
    const byId = new Map(out.map((l) => [l.custom_id, l]));
    const expectedText = (id: string): string =>
      id === 'items' ? simulatedAnswer('second 你好') : simulatedAnswer(inputs[Number(id.slice(1))]);
    for (const l of out) {
      assertConforms('BatchRequestOutput', l);
      expect(l.error).toBeNull();
      expect(l.response!.status_code).toBe(200);
      const body = l.response!.body;
      expect(body).toMatchObject({ object: 'response', status: 'completed', model: 'sim-model' });
      expect(body.id).toMatch(/^resp_/);
      expect(body.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed' });
      expect(body.output[0].content[0]).toEqual({
        type: 'output_text',
        text: expectedText(l.custom_id),
        annotations: [],
        logprobs: null,
      });
    }
    expect(byId.get('r0')!.response!.body.max_output_tokens).toBe(8);

    const inputTokens =
      inputs.reduce((n, t) => n + countTokens(t), 0) + countTokens('be brief\nfirst\nsecond 你好');
    expect(done.usage).toEqual({
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 4 * 5,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + 20,
    });
    // The same total as the per-line usage the user can add up from the output file.
    const fromLines = out.reduce((n, l) => n + (l.response!.body.usage.total_tokens as number), 0);
    expect(done.usage!.total_tokens).toBe(fromLines);
  });

  it('refuses streamed, background and mismatched /v1/responses lines at validation', async () => {
    const done = await run('/v1/responses', [
      line('ok', '/v1/responses', { input: 'fine' }),
      line('stream', '/v1/responses', { input: 'x', stream: true }),
      line('bg', '/v1/responses', { input: 'x', background: true }),
      line('url', '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] }),
      { custom_id: 'nomodel', method: 'POST', url: '/v1/responses', body: { input: 'x' } },
      line('bg-off', '/v1/responses', { input: 'x', background: false }),
    ]);
    expect(done.status).toBe('failed');
    const errors = done.errors!.data!;
    expect(errors.map((e) => ({ code: e.code, line: e.line, param: e.param }))).toEqual([
      { code: 'streaming_unsupported', line: 2, param: 'body.stream' },
      { code: 'invalid_request', line: 3, param: 'body.background' },
      { code: 'invalid_url', line: 4, param: 'url' },
      { code: 'missing_required_parameter', line: 5, param: 'body.model' },
    ]);
    expect(errors[1].message).toMatch(/'background: true' is not supported in batches/);
    expect(errors[2].message).toMatch(/does not match the batch endpoint '\/v1\/responses'/);
  });

  it('runs a /v1/score batch (our extension) with scores and usage', async () => {
    const pairs: Array<[string, string[]]> = [
      ['What is the capital of France?', ['Paris.', 'Lyon.']],
      ['¿Dónde está Tokio?', ['東京は日本にあります。']],
    ];
    const done = await run(
      '/v1/score',
      pairs.map(([q, docs], i) => line(`s${i}`, '/v1/score', { text_1: q, text_2: docs })),
    );
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    const out = await readJsonlFile(client, done.output_file_id);
    for (const l of out) {
      assertConforms('BatchRequestOutput', l);
      const [q, docs] = pairs[Number(l.custom_id.slice(1))];
      expect(l.response!.body).toMatchObject({ object: 'list', model: 'sim-model' });
      expect(l.response!.body.data).toEqual(
        docs.map((d, index) => ({ index, object: 'score', score: scoreFor(q, d) })),
      );
    }
    const tokens = pairs.reduce((n, [q, docs]) => n + docs.reduce((m, d) => m + pairTokens([q, d]), 0), 0);
    expect(done.usage).toMatchObject({ input_tokens: tokens, output_tokens: 0, total_tokens: tokens });
  });

  it('runs a /v1/rerank batch (our extension); results best first, usage from total_tokens', async () => {
    const documents = ['Paris is in France.', 'Bananas are yellow.', 'Berlin ist in Deutschland.'];
    const done = await run('/v1/rerank', [
      line('all', '/v1/rerank', { query: 'capital city', documents }),
      line('top1', '/v1/rerank', { query: 'fruit', documents, top_n: 1 }),
    ]);
    expect(done.status).toBe('completed');
    const out = new Map((await readJsonlFile(client, done.output_file_id)).map((l) => [l.custom_id, l]));
    const ranked = (query: string): Json[] =>
      documents
        .map((text, index) => ({ index, document: { text }, relevance_score: scoreFor(query, text) }))
        .sort((x, y) => y.relevance_score - x.relevance_score);
    expect(out.get('all')!.response!.body.results).toEqual(ranked('capital city'));
    expect(out.get('top1')!.response!.body.results).toEqual(ranked('fruit').slice(0, 1));
    const tokens = ['capital city', 'fruit'].reduce(
      (n, q) => n + documents.reduce((m, d) => m + pairTokens([q, d]), 0),
      0,
    );
    expect(done.usage).toMatchObject({ input_tokens: tokens, output_tokens: 0, total_tokens: tokens });
  });

  it("puts the upstream's refusal in the error file when the model does not serve the endpoint", async () => {
    sim.setOptions({ unsupportedEndpoints: ['/v1/rerank'] });
    const done = await run('/v1/rerank', [line('x', '/v1/rerank', { query: 'q', documents: ['d'] })]);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 1, completed: 0, failed: 1 });
    const [err] = await readJsonlFile(client, done.error_file_id);
    assertConforms('BatchRequestOutput', err);
    expect(err.response!.status_code).toBe(400);
    expect(err.response!.body.error.message).toBe('The model does not support Rerank API');
  });

  it('refuses OpenAI endpoints vLLM does not serve with a 400 that says why', async () => {
    const fileId = await uploadBatchFile(client, toJsonl([line('m', '/v1/moderations', { input: 'x' })]));
    const refusal = async (endpoint: string): Promise<InstanceType<typeof OpenAI.APIError>> => {
      const err = await client.batches
        .create({ input_file_id: fileId, endpoint: endpoint as CreateEndpoint, completion_window: '24h' })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      return err as InstanceType<typeof OpenAI.APIError>;
    };
    for (const endpoint of ['/v1/moderations', '/v1/images/generations', '/v1/images/edits', '/v1/videos']) {
      const err = await refusal(endpoint);
      expect({ endpoint, code: err.code, param: err.param, type: err.type }).toEqual({
        endpoint,
        code: 'invalid_value',
        param: 'endpoint',
        type: 'invalid_request_error',
      });
      expect(err.message).toContain(`'${endpoint}' is not available here: this deployment runs on vLLM`);
    }
    // Switched off by BATCH_ENDPOINTS, or unknown: the answer names the endpoints allowed here.
    const off = await refusal('/v1/completions');
    expect(off.message).toContain("'/v1/completions' is not enabled on this deployment");
    expect(off.message).toContain(
      'Supported: /v1/chat/completions, /v1/embeddings, /v1/responses, /v1/score, /v1/rerank.',
    );
    const unknown = await refusal('/v1/nope');
    expect(unknown.message).toMatch(/^400 Invalid 'endpoint': '\/v1\/nope'\. Supported: /);
    expect(unknown.code).toBe('invalid_value');
  });

  it('fails an embeddings batch of more than 50,000 inputs with too_many_embedding_inputs at the line that passes', async () => {
    const inputs = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`);
    const done = await run('/v1/embeddings', [
      line('a', '/v1/embeddings', { input: inputs(30_000, 'a') }),
      line('b', '/v1/embeddings', { input: 'one' }),
      line('c', '/v1/embeddings', { input: inputs(19_999, 'c') }), // exactly 50,000 so far
      line('d', '/v1/embeddings', { input: ['x', 'y'] }),
    ]);
    expect(done.status).toBe('failed');
    expect(done.errors!.data).toEqual([
      {
        code: 'too_many_embedding_inputs',
        line: 4,
        param: 'body.input',
        message: expect.stringMatching(/^Line 4: .*more than 50,000 embedding inputs/),
      },
    ]);
    expect(sim.stats().byEndpoint['/v1/embeddings'] ?? 0).toBe(0);
  });
});
