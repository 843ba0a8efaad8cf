import { PrefixWindow } from './batch-dispatch';
import { DEFAULT_MAX_TOKENS, lineShape } from './line-shape';

describe('lineShape', () => {
  it('sizes a chat line like the simulator counts it: message bytes / 4, plus max_tokens', () => {
    const body = {
      model: 'm',
      messages: [
        { role: 'system', content: 'x'.repeat(99) },
        { role: 'user', content: [{ type: 'text', text: 'y'.repeat(100) }] },
      ],
      max_tokens: 32,
    };
    expect(lineShape(body)).toMatchObject({ promptTokens: 50, maxTokens: 32 });
    expect(lineShape({ ...body, max_tokens: undefined, max_completion_tokens: 7 }).maxTokens).toBe(7);
    expect(lineShape({ messages: [] }).maxTokens).toBe(DEFAULT_MAX_TOKENS);
  });

  it('keys lines by their leading text, so lines sharing a system prompt share a key', () => {
    const system = { role: 'system', content: 'You are a grader. '.repeat(30) };
    const a = lineShape({ messages: [system, { role: 'user', content: 'question 1' }] });
    const b = lineShape({ messages: [system, { role: 'user', content: 'question 2' }] });
    const c = lineShape({
      messages: [
        { role: 'system', content: 'Other.' },
        { role: 'user', content: 'q' },
      ],
    });
    expect(a.prefixKey).toBe(b.prefixKey);
    expect(a.prefixKey).not.toBe(c.prefixKey);
  });

  it('sizes completions and embeddings', () => {
    expect(lineShape({ prompt: 'abcdefgh', max_tokens: 5 })).toMatchObject({ promptTokens: 2, maxTokens: 5 });
    expect(lineShape({ prompt: [[1, 2, 3]] }).promptTokens).toBe(3);
    expect(lineShape({ input: ['abcd', 'efgh'] })).toMatchObject({ promptTokens: 2, maxTokens: 0 });
  });

  it('sizes responses: instructions and input items, plus max_output_tokens', () => {
    const items = {
      instructions: 'x'.repeat(7),
      input: [
        { role: 'user', content: 'y'.repeat(8) },
        { role: 'user', content: [{ type: 'input_text', text: 'z'.repeat(8) }] },
      ],
      max_output_tokens: 12,
    };
    // 7 + 8 + 8 bytes and two newlines: 25 bytes.
    expect(lineShape(items, '/v1/responses')).toMatchObject({ promptTokens: 7, maxTokens: 12 });
    expect(lineShape({ input: 'abcdefgh' }, '/v1/responses')).toMatchObject({
      promptTokens: 2,
      maxTokens: DEFAULT_MAX_TOKENS,
      prefixKey: 'abcdefgh',
    });
  });

  it('sizes score and rerank as prefill only, one pair per document, keyed by the query', () => {
    const rerank = lineShape({ query: 'qqqq', documents: ['aaaa', 'bbbbbbbb'] }, '/v1/rerank');
    expect(rerank).toEqual({ promptTokens: 5, maxTokens: 0, prefixKey: 'qqqq' }); // (4+4) + (4+8) bytes
    expect(lineShape({ text_1: 'qqqq', text_2: ['aaaa', 'bbbb'] }, '/v1/score').promptTokens).toBe(4);
    expect(lineShape({ text_1: ['pppp', 'qqqq'], text_2: ['aaaa', 'bbbb'] }, '/v1/score').promptTokens).toBe(
      4,
    );
  });
});

describe('PrefixWindow', () => {
  it('hands out one prefix group at a time, groups by first appearance, file order within', () => {
    const w = new PrefixWindow<number>();
    const keys = ['A', 'B', 'A', 'C', 'B', 'A'];
    keys.forEach((k, i) => w.push(k, i));
    const out: number[] = [];
    out.push(w.shift() as number, w.shift() as number); // A0, A2
    w.push('A', 6); // more of the current group arrive
    w.push('B', 7);
    while (w.size > 0) out.push(w.shift() as number);
    expect(out).toEqual([0, 2, 5, 6, 1, 4, 7, 3]);
    expect(w.shift()).toBeUndefined();
  });
});
