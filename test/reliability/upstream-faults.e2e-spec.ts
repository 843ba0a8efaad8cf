import { chatLine, readJsonlFile, toJsonl, uploadBatchFile } from '../support/batch-helpers';
import { metricValue, sleep, until } from '../support/harness';
import {
  expectCompletesExactlyOnce,
  report,
  submitBatch,
  untilCompleted,
  useProcesses,
  waitFinal,
} from '../support/reliability';

const RETRIED = { name: 'vllm_batch_upstream_requests_total', labels: { outcome: 'retried' } };
const OUTAGE_MS = 10_000;

/**
 * Upstream faults injected by the simulator (a separate process) while a real API and GPU worker
 * run a batch: outages (connection refused, or 503 on everything, for 10 s), random 500s, hangs,
 * and 400s. The promise each time: no line fails because of a transient fault, and nothing is
 * recorded twice.
 */
describe('Reliability: upstream faults', () => {
  // A small GPU (16 sequences, 1,024 KV tokens; ~170 ms an answer): ~90 requests/s at best, so a
  // 500-line batch lasts a few seconds even under the adaptive in-flight limit.
  const { sim, env, worker, client } = useProcesses({
    simulator: {
      SIM_STEP_BASE_MS: '10',
      SIM_STEP_PER_SEQ_MS: '0',
      SIM_OUTPUT_TOKENS: '16',
      SIM_NUM_GPU_BLOCKS: '64',
      SIM_MAX_NUM_SEQS: '16',
    },
    env: {
      WORKER_CONCURRENCY_MODE: 'adaptive',
      // Answers take ~90 ms; a request without an answer after 1.5 s is cut and retried.
      VLLM_REQUEST_TIMEOUT_MS: '1500',
    },
    api: 'api',
    worker: 'worker',
  });

  const retried = async (): Promise<number> =>
    metricValue(await worker.metrics(), RETRIED.name, RETRIED.labels);
  const limit = async (): Promise<number> =>
    metricValue(await worker.metrics(), 'vllm_batch_upstream_inflight_limit');

  afterEach(async () => {
    // A 'refuse' outage closes the control endpoints too: wait until the simulator answers again.
    await until(
      () => sim.setFaults({ failRate: 0, hangRate: 0, status429Rate: 0, outageMs: 0 }).then(() => true),
      30_000,
      'the simulator to take its faults off',
    );
  }, 40_000);

  /** Runs an n-line batch and starts `fault` once a quarter of it is done. */
  async function batchThrough(
    n: number,
    fault: () => Promise<void>,
  ): Promise<{ id: string; startedAt: number }> {
    await sim.reset();
    const id = await submitBatch(client, n);
    await untilCompleted(client, id, n / 4);
    const startedAt = Date.now();
    await fault();
    return { id, startedAt };
  }

  /** The worker's log line "vLLM <replica> is back after X s". */
  const pauses = (): number[] =>
    [...worker.proc.output().matchAll(/vLLM \S+ is back after ([\d.]+) s/g)].map((m) => Number(m[1]));

  for (const mode of ['refuse', '503'] as const) {
    it(`vLLM ${mode === 'refuse' ? 'refusing connections' : 'answering 503'} for 10 s mid-batch: dispatch pauses, resumes by itself, no line fails`, async () => {
      const n = 500;
      const retriedBefore = await retried();
      const pausesBefore = pauses().length;
      await sim.setFaults({ outageMode: mode });
      let limitBefore = 0;
      const unset = await limit();
      const { id, startedAt } = await batchThrough(n, async () => {
        // The limit before the outage is the law's own: on a loaded machine its first decision can
        // come after a quarter of the batch, and the starting value says nothing about backing off.
        const deadline = Date.now() + 10_000;
        while ((limitBefore = await limit()) === unset && Date.now() < deadline) await sleep(100);
        // In 'refuse' mode the simulator cuts this very request's connection as the outage starts.
        await sim.setFaults({ outageMs: OUTAGE_MS }).catch(() => undefined);
        const health = await fetch(`${sim.base}/health`).then(
          (r) => r.status,
          () => 'refused',
        );
        expect(health).toBe(mode === 'refuse' ? 'refused' : 503);
      });

      // While it lasts, nothing completes and nothing fails; the in-flight limit backs off.
      await sleep(1500);
      const during = (await client.batches.retrieve(id)).request_counts!;
      let limitDuring = limitBefore;
      while (Date.now() - startedAt < OUTAGE_MS - 1500) {
        limitDuring = Math.min(limitDuring, await limit());
        await sleep(250);
      }
      const later = (await client.batches.retrieve(id)).request_counts!;
      expect(later.completed).toBe(during.completed);
      expect(later.failed).toBe(0);
      expect(limitDuring).toBeLessThan(limitBefore);

      // Then it resumes on its own.
      const resumedAfter = await until(
        async () =>
          (await client.batches.retrieve(id)).request_counts!.completed > later.completed
            ? (Date.now() - startedAt - OUTAGE_MS) / 1000
            : null,
        30_000,
        'dispatch to resume',
      );
      const batch = await expectCompletesExactlyOnce(client, id, n, env.databaseUrl);
      const stats = await sim.stats();
      const paused = pauses().slice(pausesBefore);
      expect(paused.length).toBeGreaterThanOrEqual(1);
      report(`upstream outage (${mode}) 10 s`, {
        lines: n,
        failed: batch.request_counts!.failed,
        pausedSeconds: paused.join('+'),
        resumedSecondsAfterOutageEnd: Math.max(0, resumedAfter),
        retriedRequests: (await retried()) - retriedBefore,
        answered503: stats.outageRejected,
        inflightLimitBefore: limitBefore,
        inflightLimitDuring: limitDuring,
        droppedByOutage: stats.droppedByOutage,
      });
    }, 120_000);
  }

  it('10% of upstream requests answering 500: zero failed lines thanks to bounded retries', async () => {
    const n = 500;
    const retriedBefore = await retried();
    await sim.reset();
    await sim.setFaults({ failRate: 0.1 });
    const id = await submitBatch(client, n);
    const batch = await expectCompletesExactlyOnce(client, id, n);
    const stats = await sim.stats();
    expect(stats.failedInjected).toBeGreaterThan(n * 0.05);
    expect(stats.received).toBe(n + stats.failedInjected);
    report('upstream 10% 500s', {
      lines: n,
      failed: batch.request_counts!.failed,
      injected500s: stats.failedInjected,
      retriedRequests: (await retried()) - retriedBefore,
      upstreamRequests: stats.received,
    });
  }, 120_000);

  it('a request that hangs upstream is cut by VLLM_REQUEST_TIMEOUT_MS and retried; no line fails', async () => {
    const n = 300;
    await sim.reset();
    await sim.setFaults({ hangRate: 0.05 });
    const started = Date.now();
    const id = await submitBatch(client, n);
    const batch = await expectCompletesExactlyOnce(client, id, n);
    const stats = await sim.stats();
    expect(stats.injectedHangs).toBeGreaterThan(0);
    // Every hung request was given up by the worker (the simulator saw the client leave).
    await until(
      async () => (await sim.stats()).aborted >= stats.injectedHangs,
      10_000,
      'hung requests to be cut',
    );
    expect(stats.received).toBe(n + stats.injectedHangs);
    report('upstream hangs (5%), 1.5 s timeout', {
      lines: n,
      failed: batch.request_counts!.failed,
      hangs: stats.injectedHangs,
      cutByTimeout: (await sim.stats()).aborted,
      seconds: (Date.now() - started) / 1000,
    });
  }, 120_000);

  it('upstream 400s are never retried: one request each, status and body kept in the error file', async () => {
    await sim.reset();
    const good = Array.from({ length: 40 }, (_, i) => chatLine(`ok-${i}`, `fine ${i}`));
    // max_tokens beyond the simulator's 4096-token context: vLLM answers 400.
    const bad = Array.from({ length: 10 }, (_, i) => chatLine(`too-long-${i}`, 'x', { max_tokens: 100_000 }));
    const fileId = await uploadBatchFile(client, toJsonl([...good, ...bad]));
    const created = await client.batches.create({
      input_file_id: fileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const batch = await waitFinal(client, created.id, 60_000);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 50, completed: 40, failed: 10 });
    const errors = await readJsonlFile(client, batch.error_file_id);
    expect(errors.map((e) => e.custom_id).sort()).toEqual(bad.map((b) => b.custom_id).sort());
    for (const e of errors) {
      expect(e.response?.status_code).toBe(400);
      expect(e.response?.body.error.message).toMatch(/maximum context length/);
      expect(e.error).toBeNull();
    }
    const stats = await sim.stats();
    expect(stats.received).toBe(50);
    report('upstream 400s', { lines: 50, failed400: errors.length, upstreamRequests: stats.received });
  }, 60_000);
});
