import OpenAI from 'openai';
import { DataSource } from 'typeorm';
import { simulatedAnswer } from '../../simulator/answers';
import { FilesService } from '../../src/domain/files/files.service';
import {
  chatLine,
  Json,
  readJsonlFile,
  toJsonl,
  uploadBatchFile,
  waitForBatch,
  waitUntil,
} from '../support/batch-helpers';
import { assertConforms } from '../support/openai-schema';
import { FAST_RETRIES, fixedInflight, RELAXED_LIMITS, useApp } from '../support/app-fixture';
import { authHeader, TENANT_A, TENANT_B } from '../support/harness';

describe('Batches API (end to end through the official SDK, against the vLLM simulator)', () => {
  const { sim, app, a, b } = useApp({
    simulator: { stepBaseMs: 2, stepPerSeqMs: 0.01, outputTokens: 4 },
    env: {
      BATCH_COMPLETION_WINDOWS: '1h,3s',
      // These tests are about API semantics (cancel and expiry need a batch that is still running),
      // so the in-flight level is pinned rather than left to the adaptive controller.
      ...fixedInflight(16),
      ...FAST_RETRIES,
      WORKER_MAX_ATTEMPTS: '10',
      ...RELAXED_LIMITS,
      RECONCILE_INTERVAL_MS: '1000',
      // Not OpenAI's 30: proves the default expiry of batch files follows the configuration.
      FILE_DEFAULT_EXPIRY_DAYS: '7',
    },
  });

  /** A chat batch of these lines, uploaded by tenant A; `extra` overrides the create parameters. */
  const createBatchOf = async (
    lines: Parameters<typeof toJsonl>[0],
    extra: Partial<OpenAI.Batches.BatchCreateParams> = {},
  ) =>
    a.batches.create({
      input_file_id: await uploadBatchFile(a, toJsonl(lines)),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      ...extra,
    });

  /** n chat lines (custom_id `<idPrefix><i>`, prompt `<promptPrefix><i>`), each asking for maxTokens. */
  const chatLines = (n: number, idPrefix: string, promptPrefix: string, maxTokens: number) =>
    Array.from({ length: n }, (_, i) =>
      chatLine(`${idPrefix}${i}`, `${promptPrefix}${i}`, { max_tokens: maxTokens }),
    );

  beforeEach(() => sim.setOptions({ stepBaseMs: 2, stepPerSeqMs: 0.01, outputTokens: 4 }));

  it('runs a chat batch to completed; every output line answers its own input exactly once', async () => {
    const n = 120;
    const lines = Array.from({ length: n }, (_, i) => chatLine(`req-${i}`, `question number ${i}`));
    const inputFileId = await uploadBatchFile(a, toJsonl(lines));
    const created = await a.batches.create({
      input_file_id: inputFileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { project: 'e2e', ünïcode: '✓' },
    });
    assertConforms('Batch', created);
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      input_file_id: inputFileId,
      completion_window: '24h',
    });
    expect(created.expires_at! - created.created_at).toBe(24 * 3600);

    const done = await waitForBatch(a, created.id);
    assertConforms('Batch', done);
    expect(done.status).toBe('completed');
    expect(done.model).toBe('sim-model');
    expect(done.request_counts).toEqual({ total: n, completed: n, failed: 0 });
    expect(done.error_file_id).toBeNull();
    expect(done.usage!.input_tokens).toBeGreaterThan(0);
    expect(done.usage!.output_tokens).toBe(4 * n);
    expect(done.usage!.total_tokens).toBe(done.usage!.input_tokens + done.usage!.output_tokens);
    for (const k of ['in_progress_at', 'finalizing_at', 'completed_at'] as const)
      expect(done[k]).toEqual(expect.any(Number));
    expect(done.metadata).toEqual({ project: 'e2e', ünïcode: '✓' });

    const outFile = await a.files.retrieve(done.output_file_id!);
    expect(outFile.purpose).toBe('batch_output');
    // Input and output get the default expiry when the batch asks for none.
    const inFile = await a.files.retrieve(inputFileId);
    expect(inFile.expires_at! - inFile.created_at).toBe(7 * 86_400);
    expect(outFile.expires_at! - outFile.created_at).toBe(7 * 86_400);
    const out = await readJsonlFile(a, done.output_file_id);
    expect(out).toHaveLength(n);
    const seen = new Set<string>();
    for (const line of out) {
      assertConforms('BatchRequestOutput', line);
      expect(seen.has(line.custom_id)).toBe(false);
      seen.add(line.custom_id);
      const i = Number(line.custom_id.replace('req-', ''));
      expect(line.id).toMatch(/^batch_req_/);
      expect(line.error).toBeNull();
      expect(line.response!.status_code).toBe(200);
      expect(line.response!.body.choices[0].message.content).toBe(simulatedAnswer(`question number ${i}`));
    }
    expect(seen.size).toBe(n);
  });

  it('runs completions and embeddings batches', async () => {
    const comp = toJsonl(
      Array.from({ length: 5 }, (_, i) => ({
        custom_id: `c${i}`,
        method: 'POST',
        url: '/v1/completions',
        body: { model: 'sim-model', prompt: `p${i}`, max_tokens: 3 },
      })),
    );
    const emb = toJsonl(
      Array.from({ length: 5 }, (_, i) => ({
        custom_id: `e${i}`,
        method: 'POST',
        url: '/v1/embeddings',
        body: { model: 'sim-model', input: `text ${i}` },
      })),
    );
    const bc = await a.batches.create({
      input_file_id: await uploadBatchFile(a, comp),
      endpoint: '/v1/completions',
      completion_window: '24h',
    });
    const be = await a.batches.create({
      input_file_id: await uploadBatchFile(a, emb),
      endpoint: '/v1/embeddings',
      completion_window: '24h',
    });
    const dc = await waitForBatch(a, bc.id);
    const de = await waitForBatch(a, be.id);
    expect(dc.request_counts).toEqual({ total: 5, completed: 5, failed: 0 });
    expect(de.request_counts).toEqual({ total: 5, completed: 5, failed: 0 });
    const outC = await readJsonlFile(a, dc.output_file_id);
    expect(outC.find((l) => l.custom_id === 'c3')!.response!.body.choices[0].text).toBe(
      simulatedAnswer('p3'),
    );
    const outE = await readJsonlFile(a, de.output_file_id);
    expect(outE.find((l) => l.custom_id === 'e2')!.response!.body.data[0].embedding).toHaveLength(8);
  });

  it('fails validation with each code and its 1-based line number', async () => {
    const lines = [
      chatLine('ok-1', 'fine'),
      '{not json',
      JSON.stringify({ method: 'POST', url: '/v1/chat/completions', body: { model: 'sim-model' } }),
      JSON.stringify({ custom_id: 'm', url: '/v1/chat/completions', body: { model: 'sim-model' } }),
      JSON.stringify({ custom_id: 'u', method: 'POST', body: { model: 'sim-model' } }),
      JSON.stringify({ custom_id: 'b', method: 'POST', url: '/v1/chat/completions' }),
      JSON.stringify({
        custom_id: 'get',
        method: 'GET',
        url: '/v1/chat/completions',
        body: { model: 'sim-model' },
      }),
      JSON.stringify(chatLine('url', 'x', {})).replace('/v1/chat/completions', '/v1/embeddings'),
      JSON.stringify(chatLine('stream', 'x', { stream: true })),
      JSON.stringify(chatLine('ok-1', 'dup')),
      JSON.stringify(chatLine('other-model', 'x', { model: 'another-model' })),
    ];
    const batch = await createBatchOf(lines);
    const failed = await waitForBatch(a, batch.id);
    assertConforms('Batch', failed);
    expect(failed.status).toBe('failed');
    expect(failed.failed_at).toEqual(expect.any(Number));
    const errs = failed.errors!.data!.map((e) => ({ code: e.code, line: e.line, param: e.param }));
    expect(errs).toEqual([
      { code: 'invalid_json_line', line: 2, param: null },
      { code: 'missing_required_parameter', line: 3, param: 'custom_id' },
      { code: 'missing_required_parameter', line: 4, param: 'method' },
      { code: 'missing_required_parameter', line: 5, param: 'url' },
      { code: 'missing_required_parameter', line: 6, param: 'body' },
      { code: 'invalid_request', line: 7, param: 'method' },
      { code: 'invalid_url', line: 8, param: 'url' },
      { code: 'streaming_unsupported', line: 9, param: 'body.stream' },
      { code: 'duplicate_custom_id', line: 10, param: 'custom_id' },
      { code: 'mismatched_model', line: 11, param: 'body.model' },
    ]);
    expect(sim.stats().byEndpoint['/v1/chat/completions'] ?? 0).toBeGreaterThanOrEqual(0);
  });

  it('fails with model_not_found when vLLM does not serve the model, and on an empty file', async () => {
    const unknown = await createBatchOf([chatLine('x', 'y', { model: 'no-such-model' })]);
    const f1 = await waitForBatch(a, unknown.id);
    expect(f1.status).toBe('failed');
    expect(f1.errors!.data![0]).toMatchObject({ code: 'model_not_found', param: 'body.model', line: 1 });

    const empty = await a.batches.create({
      input_file_id: await uploadBatchFile(a, '\n\n'),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const f2 = await waitForBatch(a, empty.id);
    expect(f2.status).toBe('failed');
    expect(f2.errors!.data![0].message).toMatch(/empty/);
  });

  it('puts upstream 400s in the error file with status and body; all-failed still completes', async () => {
    const tooLong = 'word '.repeat(5000);
    const mixed = await createBatchOf([chatLine('good', 'hello'), chatLine('bad', tooLong)]);
    const done = await waitForBatch(a, mixed.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 2, completed: 1, failed: 1 });
    const errors = await readJsonlFile(a, done.error_file_id);
    expect(errors).toHaveLength(1);
    assertConforms('BatchRequestOutput', errors[0]);
    expect(errors[0].custom_id).toBe('bad');
    expect(errors[0].response!.status_code).toBe(400);
    expect(errors[0].response!.body.error.message).toMatch(/maximum context length/);
    expect((await readJsonlFile(a, done.output_file_id)).map((l) => l.custom_id)).toEqual(['good']);

    const allBad = await createBatchOf([chatLine('b1', tooLong), chatLine('b2', tooLong)]);
    const done2 = await waitForBatch(a, allBad.id);
    expect(done2.status).toBe('completed');
    expect(done2.output_file_id).toBeNull();
    expect(done2.request_counts).toEqual({ total: 2, completed: 0, failed: 2 });
    expect((await readJsonlFile(a, done2.error_file_id)).map((l) => l.custom_id).sort()).toEqual([
      'b1',
      'b2',
    ]);
  });

  it('retries transient upstream 500s so no line fails', async () => {
    sim.setFaults({ failRate: 0.3 });
    try {
      const batch = await a.batches.create({
        input_file_id: await uploadBatchFile(
          a,
          toJsonl(Array.from({ length: 40 }, (_, i) => chatLine(`t${i}`, `x${i}`))),
        ),
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      const done = await waitForBatch(a, batch.id);
      expect(done.request_counts).toEqual({ total: 40, completed: 40, failed: 0 });
      expect(sim.stats().failedInjected).toBeGreaterThan(0);
    } finally {
      sim.setFaults({ failRate: 0 });
    }
  });

  it('cancels mid-batch: upstream traffic stops, finished work is kept, the rest is batch_cancelled', async () => {
    sim.setOptions({ stepBaseMs: 20, outputTokens: 20 });
    const n = 400;
    const batch = await createBatchOf(chatLines(n, 'k', 'x', 20));
    await waitUntil(
      async () => (await a.batches.retrieve(batch.id)).request_counts!.completed > 0,
      30_000,
      'some progress',
    );
    const cancelling = await a.batches.cancel(batch.id);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).toEqual(expect.any(Number));
    const t0 = Date.now();
    const done = await waitForBatch(a, batch.id, ['cancelled'], 15_000);
    expect(Date.now() - t0).toBeLessThan(10_000);
    assertConforms('Batch', done);
    // No new upstream requests after the cancel settled.
    const receivedAfter = sim.stats().received;
    await new Promise((r) => setTimeout(r, 500));
    expect(sim.stats().received).toBe(receivedAfter);
    expect(sim.stats().running + sim.stats().waiting).toBe(0);

    const out = await readJsonlFile(a, done.output_file_id);
    const errs = await readJsonlFile(a, done.error_file_id);
    const ids = [...out, ...errs].map((l) => l.custom_id);
    expect(new Set(ids).size).toBe(n);
    expect(ids).toHaveLength(n);
    expect(errs.length).toBeGreaterThan(0);
    expect(errs.every((l) => l.error?.code === 'batch_cancelled' && l.response === null)).toBe(true);
    expect(done.request_counts).toEqual({ total: n, completed: out.length, failed: errs.length });

    // Cancelling a finished batch is a conflict.
    await expect(a.batches.cancel(batch.id)).resolves.toMatchObject({ status: 'cancelled' });
    const finished = (await a.batches.list({ limit: 100 })).data.find((x) => x.status === 'completed')!;
    await expect(a.batches.cancel(finished.id)).rejects.toMatchObject({ status: 409 });
  });

  it('expires a batch that outlives its completion window, keeping finished results', async () => {
    sim.setOptions({ stepBaseMs: 30, outputTokens: 30 });
    const n = 300;
    // '3s': an extra window configured for this test (BATCH_COMPLETION_WINDOWS).
    const batch = await createBatchOf(chatLines(n, 'x', 'y', 30), { completion_window: '3s' as '24h' });
    const done = await waitForBatch(a, batch.id, ['expired', 'completed'], 20_000);
    expect(done.status).toBe('expired');
    expect(done.expired_at).toEqual(expect.any(Number));
    const out = await readJsonlFile(a, done.output_file_id);
    const errs = await readJsonlFile(a, done.error_file_id);
    expect(out.length + errs.length).toBe(n);
    expect(new Set([...out, ...errs].map((l) => l.custom_id)).size).toBe(n);
    expect(errs.length).toBeGreaterThan(0);
    for (const l of errs) {
      expect(l.response).toBeNull();
      expect(l.error).toEqual({
        code: 'batch_expired',
        message: 'This request could not be executed before the completion window expired.',
      });
    }
  });

  it('gives output and error files the output_expires_after asked for; expiry never removes the batch, only its per-line rows', async () => {
    // A prompt over the context length makes an error line, so both files are written.
    const tooLong = 'word '.repeat(5000);
    const batch = await createBatchOf([chatLine('ok', 'fine'), chatLine('bad', tooLong)], {
      output_expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    const done = await waitForBatch(a, batch.id);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: 2, completed: 1, failed: 1 });
    const produced = [done.output_file_id!, done.error_file_id!];
    for (const id of produced) {
      const file = await a.files.retrieve(id);
      assertConforms('OpenAIFile', file);
      expect(file.expires_at! - file.created_at).toBe(3600);
    }

    // The answers live in the files now: PostgreSQL keeps only each line's key, outcome and tokens.
    const db = app.app.get(DataSource);
    const perLine = () =>
      db.query(
        `SELECT custom_id, outcome, body IS NULL AS "bodyGone", error_message IS NULL AS "messageGone"
           FROM batch_requests WHERE batch_id = $1 ORDER BY line_no`,
        [batch.id],
      );
    // Trimmed right after the batch turned final (the status is visible a moment before).
    await waitUntil(
      async () => (await perLine()).every((r: { bodyGone: boolean }) => r.bodyGone),
      5_000,
      'trimmed',
    );
    expect(await perLine()).toEqual([
      { custom_id: 'ok', outcome: 'succeeded', bodyGone: true, messageGone: true },
      { custom_id: 'bad', outcome: 'failed', bodyGone: true, messageGone: true },
    ]);
    expect(
      (await readJsonlFile(a, done.output_file_id))[0].response!.body.choices[0].message.content,
    ).toEqual(expect.any(String));
    expect((await readJsonlFile(a, done.error_file_id))[0].response!.status_code).toBe(400);

    // Every file of the batch expires and is purged: the batch object stays, as at OpenAI.
    const fileIds = [done.input_file_id, ...produced];
    await db.query(`UPDATE files SET expires_at = now() - interval '1 second' WHERE id = ANY($1)`, [fileIds]);
    // The worker's own maintenance pass may purge them first; either way the rows are gone after this.
    await app.app.get(FilesService).purgeExpired();
    expect(await db.query(`SELECT id FROM files WHERE id = ANY($1)`, [fileIds])).toEqual([]);
    for (const id of fileIds) await expect(a.files.retrieve(id)).rejects.toMatchObject({ status: 404 });
    // With its files gone nothing can read or re-run its lines: the worker's pass deletes the rows.
    await waitUntil(async () => (await perLine()).length === 0, 10_000, 'per-line rows deleted');
    // Marked cleared, so later maintenance passes no longer look at it.
    expect(
      await db.query(`SELECT line_rows_cleared_at IS NOT NULL AS cleared FROM batches WHERE id = $1`, [
        batch.id,
      ]),
    ).toEqual([{ cleared: true }]);
    const after = await a.batches.retrieve(batch.id);
    expect(after).toMatchObject({ id: batch.id, status: 'completed', output_file_id: done.output_file_id });
    expect(after.request_counts).toEqual(done.request_counts);
    expect(after.usage).toEqual(done.usage);
    expect((await a.batches.list({ limit: 100 })).data.map((x) => x.id)).toContain(batch.id);
  });

  it('counts metadata limits in characters (code points), as OpenAI does', async () => {
    const input_file_id = await uploadBatchFile(a, toJsonl([chatLine('a', 'b')]));
    const params = { input_file_id, endpoint: '/v1/chat/completions', completion_window: '24h' } as const;
    // 512 emoji are 1024 UTF-16 units and 2048 bytes, but 512 characters.
    const metadata = { ['🔑'.repeat(64)]: '😀'.repeat(512) };
    const created = await a.batches.create({ ...params, metadata });
    expect(created.metadata).toEqual(metadata);
    expect((await a.batches.retrieve(created.id)).metadata).toEqual(metadata);
    await expect(a.batches.create({ ...params, metadata: { k: '😀'.repeat(513) } })).rejects.toMatchObject({
      status: 400,
      param: 'metadata',
    });
    await expect(a.batches.create({ ...params, metadata: { ['🔑'.repeat(65)]: 'v' } })).rejects.toMatchObject(
      {
        status: 400,
        param: 'metadata',
      },
    );
  });

  it('rejects bad create requests with the envelope', async () => {
    const fileId = await uploadBatchFile(a, toJsonl([chatLine('a', 'b')]));
    const post = (body: unknown) =>
      fetch(`${app.url}/v1/batches`, {
        method: 'POST',
        headers: { ...authHeader(TENANT_A.key), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const cases: Array<[unknown, number, string | null]> = [
      [{ endpoint: '/v1/chat/completions', completion_window: '24h' }, 400, 'input_file_id'],
      [{ input_file_id: fileId, endpoint: '/v1/moderations', completion_window: '24h' }, 400, 'endpoint'],
      [{ input_file_id: fileId, endpoint: '/v1/unknown', completion_window: '24h' }, 400, 'endpoint'],
      [
        { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '7d' },
        400,
        'completion_window',
      ],
      [
        { input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' },
        404,
        'input_file_id',
      ],
      [
        {
          input_file_id: fileId,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])),
        },
        400,
        'metadata',
      ],
      [
        {
          input_file_id: fileId,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          metadata: { ['k'.repeat(65)]: 'v' },
        },
        400,
        'metadata',
      ],
      [
        {
          input_file_id: fileId,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          metadata: { k: 'v'.repeat(513) },
        },
        400,
        'metadata',
      ],
      [
        {
          input_file_id: fileId,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          metadata: { k: 5 },
        },
        400,
        'metadata',
      ],
      [[1, 2], 400, null],
    ];
    for (const [body, status, param] of cases) {
      const res = await post(body);
      expect({ body, status: res.status }).toEqual({ body, status });
      const json = (await res.json()) as Json;
      assertConforms('ErrorResponse', json);
      if (param) expect(json.error.param).toBe(param);
    }
    // A file of another purpose is not a batch input.
    const other = await a.files.create({ file: new File(['x'], 'x.txt'), purpose: 'user_data' });
    const res = await post({
      input_file_id: other.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect(res.status).toBe(400);
  });

  it('lists newest first with pagination, and isolates tenants', async () => {
    const fileId = await uploadBatchFile(b, toJsonl([chatLine('a', 'b')]));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(
        (
          await b.batches.create({
            input_file_id: fileId,
            endpoint: '/v1/chat/completions',
            completion_window: '24h',
          })
        ).id,
      );
    }
    const page1 = (await (
      await fetch(`${app.url}/v1/batches?limit=2`, { headers: authHeader(TENANT_B.key) })
    ).json()) as Json;
    assertConforms('ListBatchesResponse', page1);
    expect(page1.data.map((x: { id: string }) => x.id)).toEqual([ids[2], ids[1]]);
    expect(page1.has_more).toBe(true);
    expect(page1.first_id).toBe(ids[2]);
    const page2 = (await (
      await fetch(`${app.url}/v1/batches?limit=2&after=${page1.last_id}`, {
        headers: authHeader(TENANT_B.key),
      })
    ).json()) as Json;
    expect(page2.data.map((x: { id: string }) => x.id)).toEqual([ids[0]]);
    expect(page2.has_more).toBe(false);
    const sdkAll: string[] = [];
    for await (const x of b.batches.list({ limit: 1 })) sdkAll.push(x.id);
    expect(sdkAll).toEqual([ids[2], ids[1], ids[0]]);

    // Tenant A sees none of B's batches or files.
    await expect(a.batches.retrieve(ids[0])).rejects.toMatchObject({ status: 404 });
    await expect(a.batches.cancel(ids[0])).rejects.toMatchObject({ status: 404 });
    expect((await a.batches.list({ limit: 100 })).data.map((x) => x.id)).not.toContain(ids[0]);
    const res = await fetch(`${app.url}/v1/batches`, {
      method: 'POST',
      headers: { ...authHeader(TENANT_A.key), 'content-type': 'application/json' },
      body: JSON.stringify({
        input_file_id: fileId,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    });
    expect(res.status).toBe(404);
    for (const id of ids) await waitForBatch(b, id);
  });
});
