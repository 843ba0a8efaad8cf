import {
  killAll,
  metricValue,
  ServiceProcess,
  SimulatorProcess,
  sleep,
  startService,
  until,
} from '../support/harness';
import {
  expectCompletesExactlyOnce,
  report,
  submitBatch,
  untilCompleted,
  useProcesses,
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
  // ~170 ms per request (16 tokens × 10 ms steps) and 8 in flight per worker: a 600-line batch
  // takes ~13 s, long enough to crash a worker in the middle of it.
  const { sim, env, api, client } = useProcesses({
    simulator: { SIM_STEP_BASE_MS: '10', SIM_STEP_PER_SEQ_MS: '0', SIM_OUTPUT_TOKENS: '16' },
    env: { SHUTDOWN_GRACE_SECONDS: '5' },
    api: 'api',
  });

  // Workers of a failed test never leak into the next one.
  afterEach(async () => {
    await killAll([sim.proc, api.proc]);
  });

  /** A worker and an n-line batch it has run a quarter of. */
  async function batchQuarterDone(
    workerName: string,
    n: number,
  ): Promise<{ w1: ServiceProcess; id: string }> {
    const w1 = await startService('worker', env.env, workerName);
    await sim.reset();
    const id = await submitBatch(client, n);
    await untilCompleted(client, id, n / 4);
    return { w1, id };
  }

  /**
   * Starts a worker once requests already on the wire have landed; `recovery` is the seconds from
   * `from` (default: now) until upstream traffic resumes.
   */
  async function restartWorker(
    name: string,
    from?: number,
  ): Promise<{ w2: ServiceProcess; recovery: number }> {
    await sleep(300);
    const before = await received(sim);
    const restartedAt = from ?? Date.now();
    const w2 = await startService('worker', env.env, name);
    return { w2, recovery: await trafficResumes(sim, before, restartedAt, 30_000) };
  }

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
    await untilCompleted(client, id, n / 4);

    const killedAt = Date.now();
    holder.proc.kill('SIGKILL');
    await holder.proc.exited;
    await sleep(300); // requests already on the wire when it died
    const before = await received(sim);
    const doneAtKill = (await client.batches.retrieve(id)).request_counts!.completed;
    const recovery = await trafficResumes(sim, before, killedAt, 30_000);
    expect(metricValue(await survivor.metrics(), INFLIGHT)).toBeGreaterThanOrEqual(0);
    expect(recovery).toBeLessThan(10);

    await expectCompletesExactlyOnce(client, id, n, env.databaseUrl);
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
    const n = 400;
    const { w1, id } = await batchQuarterDone('only-worker', n);
    w1.proc.kill('SIGKILL');
    await w1.proc.exited;
    const doneAtKill = (await client.batches.retrieve(id)).request_counts!.completed;

    // Long past the lock's expiry: the job is an orphan in Redis's active list, the batch in_progress.
    const downMs = Number(process.env.RELIABILITY_RESTART_DELAY_MS ?? 60_000);
    await sleep(downMs);
    expect((await client.batches.retrieve(id)).status).toBe('in_progress');

    const { w2, recovery } = await restartWorker('restarted-worker', Date.now());

    await expectCompletesExactlyOnce(client, id, n, env.databaseUrl);
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
    const n = 400;
    const { w1, id } = await batchQuarterDone('sigterm-worker', n);

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

    const { w2, recovery } = await restartWorker('after-sigterm-worker');
    await expectCompletesExactlyOnce(client, id, n, env.databaseUrl);
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
    const n = 300;
    const { w1, id } = await batchQuarterDone('sigterm-slow-worker', n);
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
    await expectCompletesExactlyOnce(client, id, n, env.databaseUrl);
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
