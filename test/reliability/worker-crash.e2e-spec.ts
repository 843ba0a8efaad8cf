import OpenAI from 'openai';
import {
  killAll,
  metricValue,
  ServiceProcess,
  SimulatorProcess,
  sleep,
  startService,
  startSimulator,
  until,
} from '../support/harness';
import {
  expectExactlyOnce,
  recordedRows,
  reliabilityEnv,
  report,
  sdkFor,
  submitBatch,
  TestEnv,
  waitFinal,
} from '../support/reliability';

const INFLIGHT = 'vllm_batch_upstream_inflight_requests';

/** Upstream requests the simulator has received so far. */
async function received(sim: SimulatorProcess): Promise<number> {
  return (await sim.stats()).received;
}

/** Waits until some upstream traffic arrives again after `since`; returns the time it took from `from`. */
async function trafficResumes(
  sim: SimulatorProcess,
  since: number,
  from: number,
  timeoutMs: number,
): Promise<number> {
  await until(async () => (await received(sim)) > since, timeoutMs, 'upstream traffic to resume', 50);
  return (Date.now() - from) / 1000;
}

/**
 * Worker crashes and restarts, with real processes: one API, one or two GPU workers, the simulator.
 * A batch job holds a BullMQ lock (5 s, renewed every ~1-2 s); a killed worker stops renewing it and
 * the stalled-job check (every 2 s, by any live worker) hands the job to another worker, which
 * resumes from PostgreSQL. Results are recorded exactly once (INSERT ... ON CONFLICT DO NOTHING), so
 * lines the dead worker had in flight simply run again.
 */
describe('Reliability: worker crash, restart and graceful shutdown', () => {
  let env: TestEnv;
  let sim: SimulatorProcess;
  let api: ServiceProcess;
  let client: OpenAI;

  beforeAll(async () => {
    // ~170 ms per request (16 tokens × 10 ms steps) and 8 in flight per worker: a 600-line batch
    // takes ~13 s, long enough to crash a worker in the middle of it.
    sim = await startSimulator({ SIM_STEP_BASE_MS: '10', SIM_STEP_PER_SEQ_MS: '0', SIM_OUTPUT_TOKENS: '16' });
    env = await reliabilityEnv({ VLLM_BASE_URL: sim.url, SHUTDOWN_GRACE_SECONDS: '5' });
    api = await startService('api', env.env);
    client = sdkFor(api.url);
  }, 90_000);

  // Workers of a failed test never leak into the next one.
  afterEach(async () => {
    await killAll([sim.proc, api.proc]);
  });

  afterAll(async () => {
    await killAll();
    await env?.dispose();
  }, 60_000);

  it('SIGKILL of the worker running a batch, with a second worker up: picked up within 10 s, exactly one line per custom_id', async () => {
    const w1 = await startService('worker', env.env, 'worker-1');
    const w2 = await startService('worker', env.env, 'worker-2');
    const n = 600;
    await sim.reset();
    const id = await submitBatch(client, n);

    // The worker holding the job is the one with requests in flight.
    const holder = await until(
      async () => {
        for (const w of [w1, w2]) if (metricValue(await w.metrics(), INFLIGHT) > 0) return w;
        return null;
      },
      30_000,
      'a worker to start dispatching',
    );
    const survivor = holder === w1 ? w2 : w1;
    await until(
      async () => (await client.batches.retrieve(id)).request_counts!.completed >= n / 4,
      60_000,
      'a quarter of the batch',
    );

    const killedAt = Date.now();
    holder.proc.kill('SIGKILL');
    await holder.proc.exited;
    await sleep(300); // requests already on the wire when it died
    const before = await received(sim);
    const doneAtKill = (await client.batches.retrieve(id)).request_counts!.completed;
    const recovery = await trafficResumes(sim, before, killedAt, 30_000);
    expect(metricValue(await survivor.metrics(), INFLIGHT)).toBeGreaterThanOrEqual(0);
    expect(recovery).toBeLessThan(10);

    const batch = await waitFinal(client, id, 120_000);
    expect(batch.status).toBe('completed');
    await expectExactlyOnce(client, batch, n);
    expect(await recordedRows(env.databaseUrl, id)).toEqual({ rows: n, distinct: n });
    const stats = await sim.stats();
    report('worker SIGKILL (2 workers)', {
      lines: n,
      completedAtKill: doneAtKill,
      pickupSeconds: recovery,
      upstreamRequests: stats.received,
      rerunLines: stats.received - n,
    });
    await survivor.proc.stop();
  }, 180_000);

  it('SIGKILL of the only worker, restarted later: the new worker resumes the batch, exactly one line per custom_id', async () => {
    const w1 = await startService('worker', env.env, 'only-worker');
    const n = 400;
    await sim.reset();
    const id = await submitBatch(client, n);
    await until(
      async () => (await client.batches.retrieve(id)).request_counts!.completed >= n / 4,
      60_000,
      'a quarter of the batch',
    );
    w1.proc.kill('SIGKILL');
    await w1.proc.exited;
    const doneAtKill = (await client.batches.retrieve(id)).request_counts!.completed;

    // Long past the lock's expiry: the job is an orphan in Redis's active list, the batch in_progress.
    const downMs = Number(process.env.RELIABILITY_RESTART_DELAY_MS ?? 60_000);
    await sleep(downMs);
    expect((await client.batches.retrieve(id)).status).toBe('in_progress');

    const restartedAt = Date.now();
    await sleep(300);
    const before = await received(sim);
    const w2 = await startService('worker', env.env, 'restarted-worker');
    const recovery = await trafficResumes(sim, before, restartedAt, 30_000);

    const batch = await waitFinal(client, id, 120_000);
    expect(batch.status).toBe('completed');
    await expectExactlyOnce(client, batch, n);
    expect(await recordedRows(env.databaseUrl, id)).toEqual({ rows: n, distinct: n });
    const stats = await sim.stats();
    report('only worker SIGKILL, restarted later', {
      lines: n,
      downSeconds: downMs / 1000,
      completedAtKill: doneAtKill,
      resumeSecondsAfterRestart: recovery,
      rerunLines: stats.received - n,
    });
    await w2.proc.stop();
  }, 180_000);

  it('SIGTERM during a running batch: the worker exits within the grace period, loses nothing, and the batch completes after restart', async () => {
    const w1 = await startService('worker', env.env, 'sigterm-worker');
    const n = 400;
    await sim.reset();
    const id = await submitBatch(client, n);
    await until(
      async () => (await client.batches.retrieve(id)).request_counts!.completed >= n / 4,
      60_000,
      'a quarter of the batch',
    );

    const termAt = Date.now();
    w1.proc.kill('SIGTERM');
    const exit = await w1.proc.waitExit(5_000 + 10_000);
    const exitSeconds = (Date.now() - termAt) / 1000;
    // SHUTDOWN_GRACE_SECONDS=5, plus a little to close connections.
    expect(exitSeconds).toBeLessThan(5 + 5);
    const afterExit = await client.batches.retrieve(id);
    expect(afterExit.status).toBe('in_progress');
    // What finished before the exit was recorded: nothing upstream answered is lost.
    const stats = await sim.stats();
    expect(afterExit.request_counts!.completed).toBe(stats.completed);

    await sleep(300);
    const before = await received(sim);
    const restartedAt = Date.now();
    const w2 = await startService('worker', env.env, 'after-sigterm-worker');
    const recovery = await trafficResumes(sim, before, restartedAt, 30_000);
    const batch = await waitFinal(client, id, 120_000);
    expect(batch.status).toBe('completed');
    await expectExactlyOnce(client, batch, n);
    expect(await recordedRows(env.databaseUrl, id)).toEqual({ rows: n, distinct: n });
    const finalStats = await sim.stats();
    report('worker SIGTERM mid-batch', {
      lines: n,
      exitSeconds,
      exitCode: exit.code ?? exit.signal,
      completedAtExit: afterExit.request_counts!.completed,
      resumeSecondsAfterRestart: recovery,
      rerunLines: finalStats.received - n,
    });
    await w2.proc.stop();
  }, 180_000);

  it('SIGTERM while upstream requests outlast the grace period: they are aborted and handed back, then run once after restart', async () => {
    const w1 = await startService('worker', env.env, 'sigterm-slow-worker');
    const n = 300;
    await sim.reset();
    const id = await submitBatch(client, n);
    await until(
      async () => (await client.batches.retrieve(id)).request_counts!.completed >= n / 4,
      60_000,
      'a quarter of the batch',
    );
    // From now on every answer takes 60 s: what is in flight cannot finish within the 5 s grace.
    await sim.setFaults({ extraLatencyMs: 60_000 });
    await sleep(500);
    const termAt = Date.now();
    w1.proc.kill('SIGTERM');
    await w1.proc.waitExit(20_000);
    const exitSeconds = (Date.now() - termAt) / 1000;
    expect(exitSeconds).toBeGreaterThanOrEqual(4.5);
    expect(exitSeconds).toBeLessThan(5 + 5);
    const afterExit = await client.batches.retrieve(id);
    expect(afterExit.status).toBe('in_progress');
    const aborted = (await sim.stats()).aborted;
    expect(aborted).toBeGreaterThan(0);

    await sim.setFaults({ extraLatencyMs: 0 });
    const w2 = await startService('worker', env.env, 'after-slow-sigterm-worker');
    const batch = await waitFinal(client, id, 120_000);
    expect(batch.status).toBe('completed');
    await expectExactlyOnce(client, batch, n);
    expect(await recordedRows(env.databaseUrl, id)).toEqual({ rows: n, distinct: n });
    report('worker SIGTERM, upstream slower than the grace', {
      lines: n,
      graceSeconds: 5,
      exitSeconds,
      abortedInFlight: aborted,
      completedAtExit: afterExit.request_counts!.completed,
    });
    await w2.proc.stop();
  }, 180_000);
});
