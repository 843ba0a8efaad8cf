import OpenAI from 'openai';
import { chatLine, toJsonl, uploadBatchFile, waitForBatch } from '../support/batch-helpers';
import { fixedInflight, RELAXED_LIMITS, useApp } from '../support/app-fixture';

/**
 * Per-tenant limits through the official SDK: BATCH_ENQUEUED_TOKEN_LIMIT (per tenant and model,
 * checked when validation admits a batch) and BATCH_MAX_ACTIVE_PER_TENANT (checked at create).
 */
describe('tenant limits: enqueued tokens per model, active batches (end to end)', () => {
  const LIMIT = 3000;
  const LINES = 20;
  // Each line: 40 ASCII bytes of content (10 tokens) + max_tokens 100 = 110; the batch 2,200.
  // One such batch fits under 3,000, two do not.
  const bigFile = (model: string): string =>
    toJsonl(
      Array.from({ length: LINES }, (_, i) =>
        chatLine(`big-${i}`, 'x'.repeat(40), { model, max_tokens: 100 }),
      ),
    );

  const { sim, a, b } = useApp({
    simulator: { models: ['sim-model', 'other-model'], stepBaseMs: 1, outputTokens: 4 },
    env: {
      BATCH_ENQUEUED_TOKEN_LIMIT: String(LIMIT),
      BATCH_MAX_ACTIVE_PER_TENANT: '3',
      ...fixedInflight(64),
      ...RELAXED_LIMITS,
      RECONCILE_INTERVAL_MS: '1000',
    },
  });

  const slow = (): void => sim.setOptions({ stepBaseMs: 100, stepPerSeqMs: 0, outputTokens: 100 });
  const fast = (): void => sim.setOptions({ stepBaseMs: 1, stepPerSeqMs: 0, outputTokens: 4 });
  const create = (client: OpenAI, fileId: string) =>
    client.batches.create({
      input_file_id: fileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });

  it("a tenant's second large batch for a model fails with token_limit_exceeded while its first runs; other tenants and models are unaffected; it fits once the first finishes", async () => {
    slow();
    const fileA = await uploadBatchFile(a, bigFile('sim-model'));
    const first = await create(a, fileA);
    await waitForBatch(a, first.id, ['in_progress']);

    const second = await waitForBatch(a, (await create(a, fileA)).id);
    expect(second.status).toBe('failed');
    expect(second.errors?.data).toEqual([
      {
        code: 'token_limit_exceeded',
        message:
          'Enqueued token limit reached for sim-model in tenant tenant-a. Limit: 3,000 enqueued tokens. ' +
          'Please try again once some in_progress batches have been completed.',
        param: null,
        line: null,
      },
    ]);

    // Tenant B's batch of the same size, and tenant A's for another model, are admitted meanwhile.
    const fromB = await create(b, await uploadBatchFile(b, bigFile('sim-model')));
    await waitForBatch(b, fromB.id, ['in_progress']);
    const otherModel = await create(a, await uploadBatchFile(a, bigFile('other-model')));
    await waitForBatch(a, otherModel.id, ['in_progress']);
    expect((await a.batches.retrieve(first.id)).status).toBe('in_progress');

    fast();
    expect(await waitForBatch(a, first.id)).toMatchObject({ status: 'completed' });
    const again = await waitForBatch(a, (await create(a, fileA)).id);
    expect(again).toMatchObject({
      status: 'completed',
      errors: null,
      request_counts: { total: LINES, completed: LINES, failed: 0 },
    });
    for (const [client, id] of [
      [b, fromB.id],
      [a, otherModel.id],
    ] as const)
      expect(await waitForBatch(client, id)).toMatchObject({ status: 'completed' });
  });

  it('a batch larger than the whole limit fails on its own, with nothing else running', async () => {
    fast();
    const lines = Array.from({ length: 40 }, (_, i) => chatLine(`huge-${i}`, 'y', { max_tokens: 100 }));
    const batch = await waitForBatch(b, (await create(b, await uploadBatchFile(b, toJsonl(lines)))).id);
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.[0]?.code).toBe('token_limit_exceeded');
  });

  it('batches created at once for one tenant and model: exactly one is admitted, the others fail', async () => {
    slow();
    const file = await uploadBatchFile(b, bigFile('sim-model'));
    const created = await Promise.all([create(b, file), create(b, file), create(b, file)]);
    const settled = await Promise.all(
      created.map((c) => waitForBatch(b, c.id, ['in_progress', 'failed', 'completed'])),
    );
    expect(settled.map((x) => x.status).sort()).toEqual(['failed', 'failed', 'in_progress']);
    for (const x of settled.filter((x) => x.status === 'failed'))
      expect(x.errors?.data?.[0]?.code).toBe('token_limit_exceeded');
    fast();
    const admitted = settled.find((x) => x.status === 'in_progress')!;
    expect(await waitForBatch(b, admitted.id)).toMatchObject({ status: 'completed' });
  });

  it("BATCH_MAX_ACTIVE_PER_TENANT: one more unfinished batch is a 429 in OpenAI's envelope; a finished one frees a slot", async () => {
    slow();
    const small = await uploadBatchFile(a, toJsonl([chatLine('one', 'hello', { max_tokens: 100 })]));
    const running = [];
    for (let i = 0; i < 3; i++) running.push(await create(a, small));

    const refused = await create(a, small).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    const err = refused as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(429);
    expect(err.error).toEqual({
      message: expect.stringContaining('at most 3'),
      type: 'requests',
      param: null,
      code: 'active_batch_limit_reached',
    });
    // A slot frees when a batch finishes, not after a delay: the SDKs are told not to retry.
    expect(err.headers?.get('x-should-retry')).toBe('false');
    const unfinished = ['validating', 'in_progress', 'finalizing', 'cancelling'];
    expect((await a.batches.list()).data.filter((x) => unfinished.includes(x.status))).toHaveLength(3);

    // Another tenant has its own count.
    const other = await create(b, await uploadBatchFile(b, toJsonl([chatLine('one', 'hello')])));
    expect(other.status).toBe('validating');

    const cancelled = await a.batches.cancel(running[0].id);
    await waitForBatch(a, cancelled.id, ['cancelled']);
    const accepted = await create(a, small);
    expect(accepted.status).toBe('validating');

    fast();
    for (const id of [...running.slice(1).map((r) => r.id), accepted.id])
      expect(await waitForBatch(a, id)).toMatchObject({ status: 'completed' });
  });
});
