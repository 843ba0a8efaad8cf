import { normaliseUsage } from './upstream-usage';

describe('normaliseUsage', () => {
  it('reads chat/completions usage with its details', () => {
    expect(
      normaliseUsage({
        prompt_tokens: 12,
        completion_tokens: 5,
        total_tokens: 17,
        prompt_tokens_details: { cached_tokens: 8 },
        completion_tokens_details: { reasoning_tokens: 3 },
      }),
    ).toEqual({ promptTokens: 12, completionTokens: 5, cachedTokens: 8, reasoningTokens: 3 });
  });

  it('reads Responses usage into the same columns', () => {
    expect(
      normaliseUsage({
        input_tokens: 30,
        input_tokens_details: { cached_tokens: 16 },
        output_tokens: 9,
        output_tokens_details: { reasoning_tokens: 4 },
        total_tokens: 39,
      }),
    ).toEqual({ promptTokens: 30, completionTokens: 9, cachedTokens: 16, reasoningTokens: 4 });
  });

  it('reads pooling usage: embeddings and score (prompt only), rerank with only total_tokens', () => {
    expect(normaliseUsage({ prompt_tokens: 7, total_tokens: 7 })).toEqual({
      promptTokens: 7,
      completionTokens: 0,
      cachedTokens: 0,
      reasoningTokens: 0,
    });
    expect(normaliseUsage({ total_tokens: 42 }).promptTokens).toBe(42);
  });

  it('counts missing, null, negative or non-numeric values as 0', () => {
    const zero = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 };
    expect(normaliseUsage(undefined)).toEqual(zero);
    expect(normaliseUsage(null)).toEqual(zero);
    expect(normaliseUsage('12')).toEqual(zero);
    expect(
      normaliseUsage({
        prompt_tokens: -1,
        completion_tokens: '3',
        prompt_tokens_details: null,
        completion_tokens_details: 7,
      }),
    ).toEqual(zero);
    expect(normaliseUsage({ input_tokens: 2.9, output_tokens: null, input_tokens_details: null })).toEqual({
      ...zero,
      promptTokens: 2,
    });
  });
});
