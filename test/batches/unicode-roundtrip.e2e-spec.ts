import { simulatedAnswer } from '../../simulator/answers';
import {
  chatLine,
  LineSpec,
  readJsonlFile,
  toJsonl,
  uploadBatchFile,
  waitForBatch,
} from '../support/batch-helpers';
import { assertConforms } from '../support/openai-schema';
import { fixedInflight, useApp } from '../support/app-fixture';

/**
 * Every byte, every time: a batch whose ids, prompts and answers are full of non-ASCII text goes
 * upload → batch → output and error files → download through the official SDK, and what comes back
 * is byte for byte what was recorded. (CI runs this file on the local and the S3 driver.)
 */

const SCRIPTS = [
  'Quelle est la capitale de la France ? Réponds en français, s’il te plaît.',
  '请用中文解释一下量子计算的基本原理。',
  '日本の首都はどこですか？',
  'Что такое фотосинтез? Объясни кратко.',
  'ما هي عاصمة مصر؟',
  'שלום, מה שלומך היום?',
  'नमस्ते, आप कैसे हैं?',
  'Emoji 👩‍💻🚀 and flags 🇯🇵🇧🇷, skin tones 👋🏿',
  'Combining: Ame\u0301lie, Zoë, a\u0308\u0301; astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎',
  'Separators\u2028in a prompt\u2029and "quotes" \\ and \ttabs',
];

const CUSTOM_IDS = ['请求', 'طلب', '🧪', 'zoë', 'e\u0301', '𝔦𝔡', 'Ω≈ç√', 'ид'];

function lines(n: number, prefix: string): { specs: LineSpec[]; prompts: Map<string, string> } {
  const prompts = new Map<string, string>();
  const specs = Array.from({ length: n }, (_, i) => {
    const customId = `${CUSTOM_IDS[i % CUSTOM_IDS.length]}-${prefix}-${i}`;
    const prompt = `${SCRIPTS[i % SCRIPTS.length]} #${i}`;
    prompts.set(customId, prompt);
    // max_tokens far above what answers use, as real batches set it.
    return chatLine(customId, prompt, { max_tokens: 512 });
  });
  return { specs, prompts };
}

describe('non-ASCII batches, byte for byte (official SDK, both storage drivers)', () => {
  const { sim, client } = useApp({
    simulator: { stepBaseMs: 1, stepPerSeqMs: 0, outputTokens: 3, maxModelLen: 2048 },
    env: { ...fixedInflight(32), THROTTLE_READ_LIMIT: '100000' },
  });

  it.each([
    ["vLLM's older flat error bodies", 'flat' as const],
    ['newer nested error bodies', 'nested' as const],
  ])('downloads output and error files whole, with %s in OpenAI’s envelope', async (_what, errorFormat) => {
    sim.setOptions({ errorFormat });
    const n = 120;
    const { specs, prompts } = lines(n, errorFormat);
    // Every 10th prompt is longer than the model's context: vLLM answers 400 for it.
    const tooLong = new Set<string>();
    specs.forEach((s, i) => {
      if (i % 10 !== 3) return;
      const long = 'é'.repeat(5000) + ` 长提示 ${i}`;
      (s.body!.messages as Array<{ content: string }>)[0].content = long;
      prompts.set(s.custom_id, long);
      tooLong.add(s.custom_id);
    });
    // CRLF line ends and a byte-order mark, as files saved on Windows have.
    const input = '\ufeff' + toJsonl(specs).replace(/\n/g, '\r\n');
    const batch = await client.batches.create({
      input_file_id: await uploadBatchFile(client, input, 'entrée-données.jsonl'),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { 项目: 'ünïcode ✓', emoji: '🚀'.repeat(100) },
    });
    const done = await waitForBatch(client, batch.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: n, completed: n - tooLong.size, failed: tooLong.size });

    // Each file whole: bytes = Content-Length = what arrived, every line one complete JSON object
    // (readJsonlFile), and every answer the simulator's own text, byte for byte.
    const out = await readJsonlFile(client, done.output_file_id);
    const errors = await readJsonlFile(client, done.error_file_id);
    expect(out).toHaveLength(n - tooLong.size);
    expect(errors).toHaveLength(tooLong.size);
    expect(new Set([...out, ...errors].map((l) => l.custom_id))).toEqual(new Set(prompts.keys()));
    for (const line of out) {
      assertConforms('BatchRequestOutput', line);
      expect(line.response!.body.choices[0].message.content).toBe(
        simulatedAnswer(prompts.get(line.custom_id)!),
      );
      expect(line.response!.request_id).toEqual(expect.any(String));
    }
    for (const line of errors) {
      assertConforms('BatchRequestOutput', line);
      expect(tooLong.has(line.custom_id)).toBe(true);
      expect(line.error).toBeNull();
      expect(line.response).toEqual({
        status_code: 400,
        request_id: expect.stringMatching(/^req_/),
        body: {
          error: {
            message: expect.stringContaining("This model's maximum context length is 2048 tokens."),
            type: 'invalid_request_error',
            param: null,
            code: null,
          },
        },
      });
    }

    // The connection the downloads used is still sound: later calls on the same client answer.
    for (let i = 0; i < 5; i++) expect((await client.batches.retrieve(batch.id)).id).toBe(batch.id);
  });
});
