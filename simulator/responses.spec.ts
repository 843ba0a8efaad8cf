import { postToSimulator } from '../test/support/simulator-http';
import OpenAI from 'openai';
import { simulatedAnswer } from './answers';
import { countTokens, createSimulator, type RunningSimulator } from './simulator';
import { vllmErrorBody } from './spec-helpers';

/** Status and parsed body: what these tests compare. */
const post = async (sim: RunningSimulator, path: string, body: unknown) => {
  const { status, json } = await postToSimulator(sim, path, body);
  return { status, json };
};

describe('simulator /v1/responses', () => {
  let sim: RunningSimulator;
  let client: OpenAI;

  beforeAll(async () => {
    sim = await createSimulator({ port: 0, stepBaseMs: 1, stepPerSeqMs: 0, maxModelLen: 256 });
    client = new OpenAI({ baseURL: sim.url, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => sim.close());
  beforeEach(() => sim.setOptions({ outputTokens: null, unsupportedEndpoints: [] }));

  it('answers a string input with a Response object the official SDK reads', async () => {
    const resp = await client.responses.create({ model: 'sim-model', input: 'Bonjour, ça va ?' });
    expect(resp).toMatchObject({
      id: expect.stringMatching(/^resp_/),
      object: 'response',
      status: 'completed',
      model: 'sim-model',
      incomplete_details: null,
      output: [
        {
          type: 'message',
          id: expect.stringMatching(/^msg_/),
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text: simulatedAnswer('Bonjour, ça va ?'), annotations: [] }],
        },
      ],
    });
    // The SDK's convenience property joins the output_text parts: the shape is the one it expects.
    expect(resp.output_text).toBe(simulatedAnswer('Bonjour, ça va ?'));
    const input = countTokens('Bonjour, ça va ?');
    expect(resp.usage).toEqual({
      input_tokens: input,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 16, // defaultMaxTokens
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: input + 16,
    });
  });

  it('takes a list of message items and instructions, and honours max_output_tokens', async () => {
    sim.setOptions({ outputTokens: 10 });
    const resp = await client.responses.create({
      model: 'sim-model',
      instructions: 'be brief',
      input: [
        { role: 'user', content: 'first' },
        { type: 'message', role: 'assistant', content: 'ok' },
        { role: 'user', content: [{ type: 'input_text', text: 'second 你好' }] },
      ],
      max_output_tokens: 4,
    });
    expect(resp.output_text).toBe(simulatedAnswer('second 你好'));
    expect(resp.usage!.input_tokens).toBe(countTokens('be brief\nfirst\nok\nsecond 你好'));
    expect(resp.usage!.output_tokens).toBe(4);
    // Cut at the limit: vLLM reports the response as incomplete.
    expect(resp.status).toBe('incomplete');
    expect(resp.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(resp.max_output_tokens).toBe(4);
  });

  it("answers errors in vLLM's shape: unknown model 404, context length 400, bad input 400", async () => {
    const unknown = await post(sim, '/v1/responses', { model: 'nope', input: 'x' });
    expect(unknown).toEqual({
      status: 404,
      json: vllmErrorBody(404, 'NotFoundError', 'The model `nope` does not exist.'),
    });
    const long = await post(sim, '/v1/responses', { model: 'sim-model', input: 'x'.repeat(1200) });
    expect(long.status).toBe(400);
    expect(long.json.message).toMatch(/maximum context length is 256 tokens.*in the input/);
    const tooMuch = await post(sim, '/v1/responses', {
      model: 'sim-model',
      input: 'x',
      max_output_tokens: 300,
    });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.json.message).toMatch(/maximum context length is 256 tokens/);
    expect((await post(sim, '/v1/responses', { model: 'sim-model' })).json.message).toBe(
      'Field required: input',
    );
    expect((await post(sim, '/v1/responses', { model: 'sim-model', input: 5 })).status).toBe(400);
    expect(
      (await post(sim, '/v1/responses', { model: 'sim-model', input: 'x', max_output_tokens: 0 })).status,
    ).toBe(400);
  });

  it('runs through the engine like chat and counts its tokens', async () => {
    sim.resetStats();
    sim.setOptions({ outputTokens: 3 });
    await Promise.all([1, 2, 3].map((i) => client.responses.create({ model: 'sim-model', input: `q${i}` })));
    const stats = sim.stats();
    expect(stats.byEndpoint['/v1/responses']).toBe(3);
    expect(stats.received).toBe(3);
    expect(stats.completed).toBe(3);
    expect(stats.generationTokens).toBe(9);
  });

  it('says the model does not support the Responses API when configured so, as vLLM does', async () => {
    sim.setOptions({ unsupportedEndpoints: ['/v1/responses'] });
    const res = await post(sim, '/v1/responses', { model: 'sim-model', input: 'x' });
    expect(res.status).toBe(400);
    expect(res.json.message).toBe('The model does not support Responses API');
  });
});
