import { postToSimulator } from '../test/support/simulator-http';
import { createSimulator, type RunningSimulator } from './simulator';
import { pairTokens, scoreFor } from './scoring';

/** Status and parsed body: what these tests compare. */
const post = async (sim: RunningSimulator, path: string, body: unknown) => {
  const { status, json } = await postToSimulator(sim, path, body);
  return { status, json };
};

describe('simulator scoring endpoints (/v1/score, /v1/rerank)', () => {
  let sim: RunningSimulator;

  beforeAll(async () => {
    sim = await createSimulator({ port: 0, stepBaseMs: 1, stepPerSeqMs: 0, maxModelLen: 64 });
  });
  afterAll(() => sim.close());
  beforeEach(() => sim.setOptions({ unsupportedEndpoints: [] }));

  it('scores are deterministic, in [0, 1], and differ between texts', () => {
    const scores = ['a', 'b', 'ça', '文档', ''].map((t) => scoreFor('query', t));
    for (const s of scores) expect(s).toBeGreaterThanOrEqual(0);
    for (const s of scores) expect(s).toBeLessThanOrEqual(1);
    expect(new Set(scores).size).toBe(scores.length);
    expect(scoreFor('query', 'a')).toBe(scores[0]);
    expect(scoreFor('a', 'query')).not.toBe(scores[0]);
  });

  it('/v1/score answers 1:1, 1:N and N:N in ScoreResponse shape', async () => {
    const one = await post(sim, '/v1/score', {
      model: 'sim-model',
      text_1: 'What is the capital of France?',
      text_2: 'Paris.',
    });
    expect(one.status).toBe(200);
    const tokens = pairTokens(['What is the capital of France?', 'Paris.']);
    expect(one.json).toEqual({
      id: expect.stringMatching(/^score-/),
      object: 'list',
      created: expect.any(Number),
      model: 'sim-model',
      data: [{ index: 0, object: 'score', score: scoreFor('What is the capital of France?', 'Paris.') }],
      usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 },
    });
    const oneToN = await post(sim, '/v1/score', {
      model: 'sim-model',
      text_1: ['q'],
      text_2: ['x', 'y', 'z'],
    });
    expect(oneToN.json.data.map((d: { score: number }) => d.score)).toEqual(
      ['x', 'y', 'z'].map((t) => scoreFor('q', t)),
    );
    const nToN = await post(sim, '/v1/score', { model: 'sim-model', text_1: ['p', 'q'], text_2: ['x', 'y'] });
    expect(nToN.json.data.map((d: { score: number }) => d.score)).toEqual([
      scoreFor('p', 'x'),
      scoreFor('q', 'y'),
    ]);
  });

  it('/v1/rerank ranks documents best first, keeps their index, and cuts at top_n', async () => {
    const documents = [
      'Paris is in France.',
      'Berlin est en Allemagne.',
      '東京は日本にあります。',
      'Bananas.',
    ];
    const all = await post(sim, '/v1/rerank', { model: 'sim-model', query: 'capital', documents });
    expect(all.status).toBe(200);
    expect(all.json).toMatchObject({ id: expect.stringMatching(/^rerank-/), model: 'sim-model' });
    const expected = documents
      .map((text, index) => ({ index, document: { text }, relevance_score: scoreFor('capital', text) }))
      .sort((a, b) => b.relevance_score - a.relevance_score);
    expect(all.json.results).toEqual(expected);
    const total = documents.reduce((n, d) => n + pairTokens(['capital', d]), 0);
    expect(all.json.usage).toEqual({ total_tokens: total });
    const top = await post(sim, '/v1/rerank', { model: 'sim-model', query: 'capital', documents, top_n: 2 });
    expect(top.json.results).toEqual(expected.slice(0, 2));
  });

  it("answers errors in vLLM's shape", async () => {
    const cases: Array<[string, unknown, number, RegExp]> = [
      ['/v1/score', { model: 'nope', text_1: 'a', text_2: 'b' }, 404, /The model `nope` does not exist/],
      ['/v1/score', { model: 'sim-model', text_1: 'a' }, 400, /Field required: text_2/],
      [
        '/v1/score',
        { model: 'sim-model', text_1: ['a', 'b'], text_2: ['c', 'd', 'e'] },
        400,
        /1:1, 1:N or N:N/,
      ],
      [
        '/v1/score',
        { model: 'sim-model', text_1: 'a', text_2: 'x'.repeat(400) },
        400,
        /maximum context length is 64/,
      ],
      ['/v1/rerank', { model: 'sim-model', documents: ['a'] }, 400, /Field required: query/],
      ['/v1/rerank', { model: 'sim-model', query: 'q', documents: [] }, 400, /At least one text element/],
      ['/v1/rerank', { model: 'sim-model', query: 'q', documents: ['a'], top_n: -1 }, 400, /top_n/],
    ];
    for (const [path, body, status, message] of cases) {
      const res = await post(sim, path, body);
      expect({ path, body, status: res.status }).toEqual({ path, body, status });
      expect(res.json).toMatchObject({
        object: 'error',
        message: expect.stringMatching(message),
        code: status,
      });
    }
  });

  it('a model that is not a scoring model says so, as vLLM does', async () => {
    sim.setOptions({ unsupportedEndpoints: ['/v1/score', '/v1/rerank'] });
    const score = await post(sim, '/v1/score', { model: 'sim-model', text_1: 'a', text_2: 'b' });
    expect(score).toMatchObject({ status: 400, json: { message: 'The model does not support Score API' } });
    const rerank = await post(sim, '/v1/rerank', { model: 'sim-model', query: 'a', documents: ['b'] });
    expect(rerank).toMatchObject({ status: 400, json: { message: 'The model does not support Rerank API' } });
    expect(() => sim.setOptions({ unsupportedEndpoints: ['/v1/nope'] })).toThrow(/unsupportedEndpoints/);
  });

  it('runs each pair as one prefill-only engine sequence', async () => {
    sim.resetStats();
    await post(sim, '/v1/rerank', { model: 'sim-model', query: 'q', documents: ['a', 'b', 'c'] });
    const stats = sim.stats();
    expect(stats.byEndpoint['/v1/rerank']).toBe(1);
    expect(stats.completed).toBe(1);
    expect(stats.promptTokens).toBe(3 * pairTokens(['q', 'a']));
    expect(stats.generationTokens).toBe(0);
  });
});
