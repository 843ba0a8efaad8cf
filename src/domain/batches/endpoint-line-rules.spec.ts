import { embeddingInputCount, MAX_EMBEDDING_INPUTS } from './endpoint-line-rules';
import { checkLine, FileValidation } from './line-validator';

const line = (url: string, body: Record<string, unknown>, customId = 'a'): string =>
  JSON.stringify({ custom_id: customId, method: 'POST', url, body });

describe('per-endpoint line rules', () => {
  it('refuses background responses with a clear message on body.background', () => {
    const check = checkLine(
      line('/v1/responses', { model: 'm', input: 'hi', background: true }),
      3,
      '/v1/responses',
    );
    expect(check).toEqual({
      ok: false,
      error: {
        code: 'invalid_request',
        message: expect.stringContaining("'background: true' is not supported in batches"),
        param: 'body.background',
        line: 3,
      },
    });
    expect(
      checkLine(line('/v1/responses', { model: 'm', input: 'hi', background: false }), 1, '/v1/responses').ok,
    ).toBe(true);
  });

  it('refuses streaming responses like any other endpoint', () => {
    const check = checkLine(
      line('/v1/responses', { model: 'm', input: 'hi', stream: true }),
      1,
      '/v1/responses',
    );
    expect(check.ok || check.error).toMatchObject({ code: 'streaming_unsupported', param: 'body.stream' });
  });

  it('leaves score and rerank bodies to the upstream (only url and model are ours to check)', () => {
    expect(checkLine(line('/v1/score', { model: 'm', text_1: 'a', text_2: ['b'] }), 1, '/v1/score').ok).toBe(
      true,
    );
    expect(checkLine(line('/v1/rerank', { model: 'm' }), 1, '/v1/rerank').ok).toBe(true);
    expect(checkLine(line('/v1/score', { text_1: 'a' }), 1, '/v1/score')).toMatchObject({
      ok: false,
      error: { code: 'missing_required_parameter', param: 'body.model' },
    });
  });

  it('counts embedding inputs as OpenAI does', () => {
    expect(embeddingInputCount({ input: 'one' })).toBe(1);
    expect(embeddingInputCount({ input: ['a', 'b', 'c'] })).toBe(3);
    expect(embeddingInputCount({ input: [1, 2, 3] })).toBe(1); // one input given as token ids
    expect(embeddingInputCount({ input: [[1, 2], [3]] })).toBe(2);
    expect(embeddingInputCount({})).toBe(1);
  });

  it('fails an embeddings batch at the line whose inputs pass 50,000 in total, once', () => {
    const check = new FileValidation('/v1/embeddings', 100, 1024);
    const inputs = (n: number) => Array.from({ length: n }, () => 'x');
    check.addLine(line('/v1/embeddings', { model: 'm', input: inputs(30_000) }, 'a'), 1);
    check.addLine(line('/v1/embeddings', { model: 'm', input: inputs(20_000) }, 'b'), 2);
    expect(check.errorCount).toBe(0); // exactly the limit is allowed
    check.addLine(line('/v1/embeddings', { model: 'm', input: 'one more' }, 'c'), 3);
    check.addLine(line('/v1/embeddings', { model: 'm', input: 'and another' }, 'd'), 4);
    expect(check.report()).toEqual([
      {
        code: 'too_many_embedding_inputs',
        message: expect.stringMatching(/^Line 3: .*more than 50,000 embedding inputs/),
        param: 'body.input',
        line: 3,
      },
    ]);
    expect(MAX_EMBEDDING_INPUTS).toBe(50_000);
  });

  it('does not count inputs of other endpoints', () => {
    const check = new FileValidation('/v1/completions', 100, 1024);
    check.addLine(line('/v1/completions', { model: 'm', input: Array(60_000).fill('x'), prompt: 'p' }), 1);
    expect(check.errorCount).toBe(0);
  });
});
