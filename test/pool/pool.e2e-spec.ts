import OpenAI from 'openai';
import {
  chatLine,
  readJsonlFile,
  toJsonl,
  uploadBatchFile,
  waitForBatch,
  waitUntil,
} from '../support/batch-helpers';
import { RELAXED_LIMITS, useApp } from '../support/app-fixture';
import { sampleValue } from '../support/harness';
import { createSimulator } from '../../simulator/simulator';

/**
 * Two vLLM replicas named in VLLM_ENDPOINTS, one model each plus one they share: the API lists
 * their models, each batch runs on the replicas that serve its model, a model nobody serves fails
 * validation, and a replica lost mid-batch loses no line.
 */
describe('a pool of vLLM replicas (VLLM_ENDPOINTS, official SDK)', () => {
  const { app, client, sims } = useApp({
    simulators: [
      { models: ['llama-ä', 'shared/model'], stepBaseMs: 2, stepPerSeqMs: 0.02 },
      { models: ['qwen-b', 'shared/model'], stepBaseMs: 2, stepPerSeqMs: 0.02 },
    ],
    env: {
      ...RELAXED_LIMITS,
      WORKER_MAX_INFLIGHT: '32',
      ADMIN_USER: 'ops',
      ADMIN_PASSWORD: 'board-pass-7d1e',
    },
  });
  const chat = (sim: number): number => sims[sim].stats().byEndpoint['/v1/chat/completions'] ?? 0;

  async function run(model: string, n: number, prefix: string): Promise<OpenAI.Batches.Batch> {
    const lines = Array.from({ length: n }, (_, i) =>
      chatLine(`${prefix}-${i}-日本語`, `question ${i} for ${model}: ¿qué tal? 🚀`, { model, max_tokens: 8 }),
    );
    return client.batches.create({
      input_file_id: await uploadBatchFile(client, toJsonl(lines)),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
  }

  it('lists the models of every replica through GET /v1/models', async () => {
    const ids = async (): Promise<string[]> => (await client.models.list()).data.map((m) => m.id).sort();
    await waitUntil(async () => (await ids()).length === 3, 10_000);
    expect(await ids()).toEqual(['llama-ä', 'qwen-b', 'shared/model']);
    expect((await client.models.retrieve('shared/model')).id).toBe('shared/model');
  });

  it('runs each batch on the replicas that serve its model', async () => {
    const before = [chat(0), chat(1)];
    const llama = await waitForBatch(client, (await run('llama-ä', 30, 'l')).id);
    expect(llama.request_counts).toEqual({ total: 30, completed: 30, failed: 0 });
    expect([chat(0) - before[0], chat(1) - before[1]]).toEqual([30, 0]);
    const qwen = await waitForBatch(client, (await run('qwen-b', 20, 'q')).id);
    expect(qwen.request_counts).toEqual({ total: 20, completed: 20, failed: 0 });
    expect([chat(0) - before[0], chat(1) - before[1]]).toEqual([30, 20]);

    // The shared model spreads over both.
    const mid = [chat(0), chat(1)];
    const shared = await waitForBatch(client, (await run('shared/model', 200, 's')).id);
    expect(shared.request_counts).toEqual({ total: 200, completed: 200, failed: 0 });
    expect(chat(0) - mid[0]).toBeGreaterThan(20);
    expect(chat(1) - mid[1]).toBeGreaterThan(20);
    expect(chat(0) - mid[0] + chat(1) - mid[1]).toBe(200);

    // Each replica's work shows in its own series.
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    for (const sim of sims)
      expect(
        sampleValue(metrics, 'vllm_batch_endpoint_lines_total', { endpoint: sim.url, model: 'shared/model' }),
      ).toBeGreaterThan(0);
  });

  it("shows a running batch's lines done / total on its job in the board", async () => {
    const auth = { Authorization: `Basic ${Buffer.from('ops:board-pass-7d1e').toString('base64')}` };
    for (const sim of sims) sim.setOptions({ stepBaseMs: 200 });
    try {
      // Seven waves of 64 lines, 1.6 s each: progress (refreshed every 2 s) is seen mid-batch.
      const created = await run('shared/model', 400, 'p');
      let seen: { progress: number; done: number; total: number; status: string } | undefined;
      await waitUntil(async () => {
        const board = await fetch(
          `${app.adminUrl}/admin/queues/api/queues?activeQueue=batches&status=active`,
          {
            headers: auth,
          },
        );
        const { queues } = (await board.json()) as {
          queues: { name: string; jobs: { data: { batchId: string }; progress: typeof seen }[] }[];
        };
        const job = queues.find((q) => q.name === 'batches')?.jobs.find((j) => j.data.batchId === created.id);
        seen = job?.progress;
        return !!seen && seen.done > 0;
      }, 20_000);
      expect(seen).toMatchObject({ status: 'in_progress', total: 400 });
      expect(seen!.done).toBeLessThan(400);
      expect(seen!.progress).toBe(Math.floor((100 * seen!.done) / 400));
      for (const sim of sims) sim.setOptions({ stepBaseMs: 2 });
      expect((await waitForBatch(client, created.id)).request_counts?.completed).toBe(400);
    } finally {
      for (const sim of sims) sim.setOptions({ stepBaseMs: 2 });
    }
  });

  it('fails validation with model_not_found for a model no replica serves, naming the available ones', async () => {
    const done = await waitForBatch(client, (await run('gpt-nobody', 3, 'x')).id);
    expect(done.status).toBe('failed');
    const error = done.errors?.data?.[0];
    expect(error?.code).toBe('model_not_found');
    expect(error?.param).toBe('body.model');
    expect(error?.message).toContain('llama-ä');
    expect(error?.message).toContain('qwen-b');
  });

  it('loses nothing when a replica goes away mid-batch: its lines finish on the other', async () => {
    const N = 400;
    // Steps of 40 ms: the batch takes seconds, so replica 1 still holds lines when it goes.
    for (const sim of sims) sim.setOptions({ stepBaseMs: 40 });
    const created = await run('shared/model', N, 'k');
    await waitUntil(async () => {
      const b = await client.batches.retrieve(created.id);
      return (b.request_counts?.completed ?? 0) >= N * 0.3;
    }, 30_000);
    const inFlightOnClosed = sims[1].stats().inFlight;
    await sims[1].close();
    sims[0].setOptions({ stepBaseMs: 2 });
    expect(inFlightOnClosed).toBeGreaterThan(0);
    const done = await waitForBatch(client, created.id, undefined, 60_000);
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: N, completed: N, failed: 0 });
    const rows = await readJsonlFile(client, done.output_file_id as string);
    const ids = rows.map((r) => r.custom_id);
    expect(new Set(ids).size).toBe(N);
    expect(ids.length).toBe(N);
    // The breaker took it out: its series says so.
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(sampleValue(metrics, 'vllm_batch_endpoint_breaker_open', { endpoint: sims[1].url })).toBe(1);
  });

  it('keeps a batch of a known model in progress while its only replica is down, and finishes it when it is back', async () => {
    // The previous test closed replica 1, the only one serving qwen-b.
    const created = await run('qwen-b', 40, 'w');
    await waitUntil(async () => (await client.batches.retrieve(created.id)).status === 'in_progress', 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    const waiting = await client.batches.retrieve(created.id);
    expect(waiting.status).toBe('in_progress');
    expect(waiting.request_counts).toEqual({ total: 40, completed: 0, failed: 0 });

    const port = Number(new URL(sims[1].url).port);
    sims[1] = await createSimulator({ port, models: ['qwen-b', 'shared/model'], stepBaseMs: 2 });
    const done = await waitForBatch(client, created.id, undefined, 30_000);
    expect(done.request_counts).toEqual({ total: 40, completed: 40, failed: 0 });
  });
});
