/**
 * Recording finished lines in PostgreSQL (BatchResultRepository.insert), against the real database:
 * what a user later reads back (output lines, request counts, usage) must be exactly what the worker
 * recorded, once per line, whatever the answers hold and however often a line is recorded.
 */
import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { BatchResult } from '../../src/domain/batches/batch-result';
import { BatchResultRepository } from '../../src/domain/batches/batch-result.repository';
import { storableText } from '../../src/common/pg-text';
import { useApp } from '../support/app-fixture';
import { chatLine, toJsonl, uploadBatchFile } from '../support/batch-helpers';
import { utf8Text } from '../support/unicode';

describe('Recording line results', () => {
  // The API role only: no worker runs the batches these tests record results for.
  const { app, a } = useApp({ env: { APP_ROLE: 'api' } });

  const newBatch = async (): Promise<string> => {
    const fileId = await uploadBatchFile(a, toJsonl([chatLine('x', 'hi')]));
    const batch = await a.batches.create({
      input_file_id: fileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    return batch.id;
  };

  const row = (lineNo: number, body: string, outcome: 'succeeded' | 'failed' = 'succeeded'): BatchResult => ({
    lineNo,
    requestId: `batch_req_${lineNo}`,
    customId: `réq-${lineNo}-ü`,
    outcome,
    statusCode: outcome === 'succeeded' ? 200 : 400,
    upstreamRequestId: `up-${lineNo}`,
    body,
    errorCode: null,
    errorMessage: outcome === 'failed' ? `line ${lineNo} "refused" \\ 拒否` : null,
    promptTokens: 3,
    completionTokens: lineNo % 7,
    cachedTokens: 1,
    reasoningTokens: lineNo % 2,
  });

  const counters = async (batchId: string) =>
    (
      await app.app.get(DataSource).query(
        `SELECT completed_requests AS completed, failed_requests AS failed, input_tokens AS input,
                  output_tokens AS output, cached_tokens AS cached, reasoning_tokens AS reasoning
             FROM batches WHERE id = $1`,
        [batchId],
      )
    )[0];

  it('records thousands of lines across several statements, and a line recorded again counts once', async () => {
    const results = app.app.get(BatchResultRepository);
    const batchId = await newBatch();
    const body = (n: number) =>
      JSON.stringify({ id: `c-${n}`, choices: [{ message: { content: `Grüße "${n}" \\ 你好 👩‍💻` } }] });
    const lines = Array.from({ length: 2_300 }, (_, i) =>
      row(i + 1, body(i + 1), i % 10 === 0 ? 'failed' : 'succeeded'),
    );
    await results.insert(batchId, lines.slice(0, 1_500));
    // A resumed worker records lines 1,201–2,300: the 300 already there are kept once.
    await results.insert(batchId, lines.slice(1_200));

    const failed = lines.filter((l) => l.outcome === 'failed').length;
    const sum = (k: 'completionTokens' | 'reasoningTokens') => lines.reduce((t, l) => t + l[k], 0);
    expect(await counters(batchId)).toEqual({
      completed: 2_300 - failed,
      failed,
      input: String(3 * 2_300),
      output: String(sum('completionTokens')),
      cached: String(2_300),
      reasoning: String(sum('reasoningTokens')),
    });
    const page = await results.page(batchId, 'succeeded', 0, 5_000);
    expect(page).toHaveLength(2_300 - failed);
    expect(page[0]).toMatchObject({ lineNo: 2, customId: 'réq-2-ü', body: body(2), statusCode: 200 });
    const errors = await results.page(batchId, 'failed', 0, 5_000);
    expect(errors[0]).toMatchObject({ lineNo: 1, errorMessage: 'line 1 "refused" \\ 拒否', statusCode: 400 });
  });

  it('gives back any answer text exactly, except what PostgreSQL cannot hold', async () => {
    const results = app.app.get(BatchResultRepository);
    const batchId = await newBatch();
    let next = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(utf8Text(200), fc.string({ unit: 'binary', maxLength: 50 })), {
          minLength: 1,
          maxLength: 20,
        }),
        async (bodies) => {
          const first = next + 1;
          const rows = bodies.map((b) => row(++next, b));
          await results.insert(batchId, rows);
          const back = await results.page(batchId, 'succeeded', first - 1, bodies.length);
          // NUL and unpaired surrogates become U+FFFD; everything else comes back as sent.
          expect(back.map((r) => r.body)).toEqual(bodies.map((b) => storableText(b)));
        },
      ),
      { numRuns: 60 },
    );
  });
});
