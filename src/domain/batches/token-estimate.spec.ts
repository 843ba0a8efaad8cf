import fc from 'fast-check';
import { estimateLineTokens } from './token-estimate';

const chat = (content: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'm',
  messages: [{ role: 'user', content }],
  ...extra,
});

describe('estimateLineTokens', () => {
  it('chat: ceil(content bytes / 4) plus max_tokens, or the default when the line sets none', () => {
    expect(estimateLineTokens('/v1/chat/completions', chat('abcde', { max_tokens: 10 }), 1024)).toBe(2 + 10);
    expect(estimateLineTokens('/v1/chat/completions', chat('abcd'), 1024)).toBe(1 + 1024);
    expect(estimateLineTokens('/v1/chat/completions', chat('', { max_completion_tokens: 7 }), 1024)).toBe(7);
  });

  it('counts every message and only the text parts of multi-part content', () => {
    const body = {
      model: 'm',
      max_tokens: 0,
      messages: [
        { role: 'system', content: 'a'.repeat(8) },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'b'.repeat(8) },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,' + 'A'.repeat(4000) } },
          ],
        },
      ],
    };
    expect(estimateLineTokens('/v1/chat/completions', body, 1024)).toBe(4);
  });

  it('multi-byte text counts its UTF-8 bytes, not its characters', () => {
    // 'é' is 2 bytes, '日' 3, '🙂' 4 (two UTF-16 units).
    expect(estimateLineTokens('/v1/chat/completions', chat('éé', { max_tokens: 0 }), 0)).toBe(1);
    expect(estimateLineTokens('/v1/chat/completions', chat('日日日日', { max_tokens: 0 }), 0)).toBe(3);
    expect(estimateLineTokens('/v1/chat/completions', chat('🙂🙂🙂', { max_tokens: 0 }), 0)).toBe(3);
  });

  it('completions: string, list of strings and token ids (one token per id)', () => {
    expect(estimateLineTokens('/v1/completions', { prompt: 'abcdefgh', max_tokens: 5 }, 1024)).toBe(2 + 5);
    expect(estimateLineTokens('/v1/completions', { prompt: ['abcd', 'abcd'], max_tokens: 0 }, 1024)).toBe(2);
    expect(estimateLineTokens('/v1/completions', { prompt: [1, 2, 3], max_tokens: 0 }, 1024)).toBe(3);
    expect(estimateLineTokens('/v1/completions', { prompt: [[1, 2], [3]], max_tokens: 1 }, 1024)).toBe(4);
  });

  it('pooling endpoints count their input only: they generate nothing', () => {
    expect(estimateLineTokens('/v1/embeddings', { input: ['abcd', 'abcdefgh'] }, 1024)).toBe(3);
    expect(estimateLineTokens('/v1/embeddings', { input: [5, 6, 7, 8] }, 1024)).toBe(4);
    expect(estimateLineTokens('/v1/score', { text_1: 'abcd', text_2: ['abcd', 'abcd'] }, 1024)).toBe(3);
    expect(
      estimateLineTokens('/v1/rerank', { query: 'abcd', documents: ['abcdefgh', { text: 'abcd' }] }, 1024),
    ).toBe(4);
  });

  it('responses: instructions, string input or the text of input items, plus max_output_tokens', () => {
    expect(estimateLineTokens('/v1/responses', { input: 'abcdefgh', max_output_tokens: 3 }, 1024)).toBe(5);
    const items = {
      instructions: 'abcd',
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'abcd' }] },
        { type: 'function_call_output', call_id: 'c', output: 'abcd' },
      ],
    };
    expect(estimateLineTokens('/v1/responses', items, 100)).toBe(3 + 100);
  });

  it('absurd output limits are capped so batch totals stay exact integers', () => {
    const n = estimateLineTokens('/v1/chat/completions', chat('x', { max_tokens: 1e300 }), 0);
    expect(Number.isSafeInteger(n)).toBe(true);
    expect(n).toBe(1 + (2 ** 31 - 1));
  });

  it('property: never negative, an integer, and never shrinks when the text grows', () => {
    const endpoints = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses'];
    const bodyFor = (endpoint: string, text: string, max: number | undefined): Record<string, unknown> => {
      const limit = max === undefined ? {} : { max_tokens: max };
      if (endpoint === '/v1/chat/completions') return chat(text, limit);
      if (endpoint === '/v1/completions') return { prompt: text, ...limit };
      if (endpoint === '/v1/embeddings') return { input: [text] };
      return { input: text, ...(max === undefined ? {} : { max_output_tokens: max }) };
    };
    fc.assert(
      fc.property(
        fc.constantFrom(...endpoints),
        fc.string({ unit: 'grapheme' }),
        fc.string({ unit: 'grapheme' }),
        fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: undefined }),
        fc.integer({ min: 0, max: 100_000 }),
        (endpoint, text, more, max, defaultMax) => {
          const before = estimateLineTokens(endpoint, bodyFor(endpoint, text, max), defaultMax);
          const after = estimateLineTokens(endpoint, bodyFor(endpoint, text + more, max), defaultMax);
          expect(Number.isInteger(before) && before >= 0).toBe(true);
          expect(after).toBeGreaterThanOrEqual(before);
          // Each 4 more bytes add at least one token.
          expect(after - before).toBeGreaterThanOrEqual(Math.floor(Buffer.byteLength(more, 'utf8') / 4));
        },
      ),
    );
  });

  it('property: malformed shapes (numbers, nulls, nested junk) never make it negative or NaN', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          '/v1/chat/completions',
          '/v1/completions',
          '/v1/responses',
          '/v1/score',
          '/v1/rerank',
        ),
        fc.dictionary(
          fc.constantFrom('messages', 'prompt', 'input', 'text_1', 'documents', 'max_tokens'),
          fc.jsonValue(),
        ),
        (endpoint, body) => {
          const n = estimateLineTokens(endpoint, body, 16);
          expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
        },
      ),
    );
  });
});
