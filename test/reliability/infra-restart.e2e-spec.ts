import OpenAI from 'openai';
import { Client } from 'pg';
import { readJsonlFile } from '../support/batch-helpers';
import {
  deleteRedisPrefix,
  authHeader,
  killAll,
  PrivatePostgres,
  PrivateRedis,
  SimulatorProcess,
  sleep,
  startService,
  startSimulator,
  TENANT_A,
  until,
} from '../support/harness';
import {
  customIdOf,
  expectCompletesExactlyOnce,
  expectExactlyOnce,
  reliabilityEnv,
  report,
  sdkFor,
  submitBatch,
  TestEnv,
  untilCompleted,
  waitFinal,
} from '../support/reliability';

async function progress(client: OpenAI, id: string): Promise<number> {
  return (await client.batches.retrieve(id)).request_counts!.completed;
}

async function sql<Row extends object = object>(
  databaseUrl: string,
  text: string,
  params: unknown[] = [],
): Promise<Row[]> {
  const db = new Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    return (await db.query<Row>(text, params)).rows;
  } finally {
    await db.end();
  }
}

/**
 * Redis and PostgreSQL restarted under a running batch, and batches orphaned by a crash. PostgreSQL
 * holds everything that matters (batches, per-line results); the queue in Redis is rebuilt from it
 * by the reconciler, at worker start and every RECONCILE_INTERVAL_MS. The restarts use private
 * server instances started by the test, never the machine's own.
 */
describe('Reliability: infrastructure restarts and orphaned batches', () => {
  let sim: SimulatorProcess;

  beforeAll(async () => {
    sim = await startSimulator({ SIM_STEP_BASE_MS: '10', SIM_STEP_PER_SEQ_MS: '0', SIM_OUTPUT_TOKENS: '8' });
  }, 60_000);

  afterAll(async () => {
    await killAll();
  }, 60_000);

  describe('Redis restarted (empty) mid-batch', () => {
    let redis: PrivateRedis;
    let env: TestEnv;

    beforeAll(async () => {
      redis = await PrivateRedis.start();
    }, 30_000);

    afterAll(async () => {
      await killAll([sim.proc]);
      await redis?.kill();
      await env?.dispose();
    }, 60_000);

    it('running, queued and newly created batches all complete, each line exactly once', async () => {
      // One batch at a time, so the second one is still waiting in Redis when Redis loses everything.
      env = await reliabilityEnv({
        VLLM_BASE_URL: sim.url,
        REDIS_URL: redis.url,
        WORKER_BATCH_CONCURRENCY: '1',
      });
      const api = await startService('api', env.env, 'api-redis');
      const worker = await startService('worker', env.env, 'worker-redis');
      const client = sdkFor(api.url);
      const n1 = 500;
      const n2 = 200;
      const b1 = await submitBatch(client, n1);
      const b2 = await submitBatch(client, n2);
      await untilCompleted(client, b1, n1 / 4);
      expect((await client.batches.retrieve(b2)).status).toBe('validating');
      expect(redis.dbsize()).toBeGreaterThan(0);

      // Redis goes away for 3 s and comes back empty; a batch is created meanwhile.
      await redis.kill();
      const downAt = Date.now();
      const createStarted = Date.now();
      const b3 = await submitBatch(client, 100);
      const createSeconds = (Date.now() - createStarted) / 1000;
      await sleep(Math.max(0, 3000 - (Date.now() - downAt)));
      await redis.restart();
      const upAt = Date.now();

      // The rate limiter (failing open while Redis was away) counts again, and /ready is green.
      const throttlingBackAfter = await until(
        async () => {
          const res = await fetch(`${api.url}/v1/files`, { headers: authHeader(TENANT_A.key) });
          return res.headers.get('x-ratelimit-limit') !== null ? (Date.now() - upAt) / 1000 : null;
        },
        30_000,
        'rate limiting to resume',
      );
      await until(async () => (await fetch(`${api.url}/ready`)).ok, 30_000, 'the API to be ready');
      await until(async () => (await fetch(`${worker.url}/ready`)).ok, 30_000, 'the worker to be ready');

      // The reconciler finds all three unfinished batches without jobs and enqueues them again.
      const requeued = await until(
        () => /re-enqueued (\d+) unfinished batch/.exec(worker.proc.output())?.[1],
        30_000,
        'the reconciler to rebuild the queue',
      );
      const results: Record<string, number> = {};
      for (const [id, n] of [
        [b1, n1],
        [b2, n2],
        [b3, 100],
      ] as const) {
        await expectCompletesExactlyOnce(client, id, n, env.databaseUrl);
        results[id] = (Date.now() - upAt) / 1000;
      }
      report('Redis restarted empty mid-batch', {
        downSeconds: (upAt - downAt) / 1000,
        createDuringOutageSeconds: createSeconds,
        requeuedByReconciler: requeued,
        rateLimitingBackSeconds: throttlingBackAfter,
        allDoneSecondsAfterRedisBack: Math.max(...Object.values(results)),
      });
    }, 180_000);
  });

  describe('PostgreSQL restarted mid-batch', () => {
    let pg: PrivatePostgres;
    let env: TestEnv;

    beforeAll(async () => {
      pg = await PrivatePostgres.start();
    }, 60_000);

    afterAll(async () => {
      await killAll([sim.proc]);
      await env?.dispose().catch(() => undefined);
      await pg?.destroy();
    }, 60_000);

    it('the batch completes after the worker and API reconnect, each line exactly once', async () => {
      env = await reliabilityEnv({ VLLM_BASE_URL: sim.url });
      const databaseUrl = `${pg.url}/vllm_batch_pg_restart`;
      const procEnv = { ...env.env, DATABASE_URL: databaseUrl };
      const api = await startService('api', procEnv, 'api-pg');
      const worker = await startService('worker', procEnv, 'worker-pg');
      const client = sdkFor(api.url);
      const n = 600;
      const id = await submitBatch(client, n);
      await untilCompleted(client, id, n / 4);

      const downAt = Date.now();
      // While PostgreSQL is away, the API answers 503 with Retry-After (the SDKs retry it), never 500.
      const statusesDuringOutage: number[] = [];
      let restarting = true;
      const probing = (async () => {
        while (restarting) {
          const res = await fetch(`${api.url}/v1/batches/${id}`, { headers: authHeader(TENANT_A.key) });
          statusesDuringOutage.push(res.status);
          if (res.status === 503) expect(res.headers.get('retry-after')).toBe('5');
          await res.arrayBuffer();
          await sleep(200);
        }
      })();
      await pg.restart(3000, 'immediate');
      restarting = false;
      await probing;
      expect(statusesDuringOutage.filter((s) => s !== 200 && s !== 503)).toEqual([]);
      expect(statusesDuringOutage).toContain(503);
      const upAt = Date.now();
      const before = await until(
        () => progress(client, id).catch(() => null),
        30_000,
        'the API to read again',
      );
      const resumedAfter = await until(
        async () => ((await progress(client, id)) > before ? (Date.now() - upAt) / 1000 : null),
        60_000,
        'progress after the restart',
      );
      await expectCompletesExactlyOnce(client, id, n, databaseUrl);
      expect(api.proc.running && worker.proc.running).toBe(true);
      report('PostgreSQL restarted mid-batch', {
        lines: n,
        downSeconds: (upAt - downAt) / 1000,
        progressSecondsAfterPgBack: resumedAfter,
        totalSecondsAfterPgBack: (Date.now() - upAt) / 1000,
      });
    }, 180_000);
  });

  describe('orphans', () => {
    let env: TestEnv;

    afterAll(async () => {
      await killAll([sim.proc]);
      await env?.dispose();
    }, 60_000);

    it('batches left in_progress, finalizing and cancelling with no job are found and finished at worker start', async () => {
      env = await reliabilityEnv({ VLLM_BASE_URL: sim.url });
      const api = await startService('api', env.env, 'api-orphans');
      const w1 = await startService('worker', env.env, 'worker-orphans');
      const client = sdkFor(api.url);

      // B ran to the end; it will be put back in `finalizing` as if its worker died writing the files.
      const nB = 50;
      const bB = await submitBatch(client, nB);
      const bDone = await waitFinal(client, bB, 60_000);
      expect(bDone.status).toBe('completed');
      // A worker that dies while finalizing has every answer still in its rows (they are trimmed
      // only after the final transition): put B's back from its output file before rewinding it.
      await until(
        async () =>
          (
            await sql<{ n: number }>(
              env.databaseUrl,
              'SELECT count(*)::int AS n FROM batch_requests WHERE batch_id = $1 AND body IS NOT NULL',
              [bB],
            )
          )[0].n === 0,
        10_000,
        "B's bodies trimmed",
      );
      for (const line of await readJsonlFile(client, bDone.output_file_id))
        await sql(
          env.databaseUrl,
          'UPDATE batch_requests SET body = $1 WHERE batch_id = $2 AND custom_id = $3',
          [JSON.stringify(line.response!.body), bB, line.custom_id],
        );

      const nA = 300;
      const nC = 300;
      const bA = await submitBatch(client, nA);
      const bC = await submitBatch(client, nC);
      await until(
        async () => (await progress(client, bA)) >= 40 && (await progress(client, bC)) >= 40,
        60_000,
        'both batches under way',
      );
      w1.proc.kill('SIGKILL');
      await w1.proc.exited;
      // C is cancelled while no worker runs; then the queue loses every job (Redis restart without
      // persistence, here: this test's own keys deleted).
      expect((await client.batches.cancel(bC)).status).toBe('cancelling');
      await deleteRedisPrefix(`${env.queuePrefix}:`, env.env.REDIS_URL);
      await sql(
        env.databaseUrl,
        `UPDATE batches SET status = 'finalizing', output_file_id = NULL, error_file_id = NULL, completed_at = NULL,
                finalizing_at = now() WHERE id = $1`,
        [bB],
      );
      const statuses = async (): Promise<string[]> =>
        Promise.all([bA, bB, bC].map(async (id) => (await client.batches.retrieve(id)).status));
      expect(await statuses()).toEqual(['in_progress', 'finalizing', 'cancelling']);

      const startedAt = Date.now();
      await startService('worker', env.env, 'worker-orphans-2');
      const a = await waitFinal(client, bA, 120_000);
      const b = await waitFinal(client, bB, 60_000);
      const c = await waitFinal(client, bC, 60_000);
      const seconds = (Date.now() - startedAt) / 1000;
      expect([a.status, b.status, c.status]).toEqual(['completed', 'completed', 'cancelled']);
      await expectExactlyOnce(client, a, nA);
      await expectExactlyOnce(client, b, nB);
      const { errors } = await expectExactlyOnce(client, c, nC, false);
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) expect(e.error?.code).toBe('batch_cancelled');
      expect(c.request_counts!.completed + c.request_counts!.failed).toBe(nC);
      // B's files were written anew; the old ones are not referenced twice.
      expect((await readJsonlFile(client, b.output_file_id)).map((l) => l.custom_id).sort()).toEqual(
        Array.from({ length: nB }, (_, i) => customIdOf(i)).sort(),
      );
      report('orphans resumed at worker start', {
        inProgress: `${bA}→${a.status}`,
        finalizing: `${bB}→${b.status}`,
        cancelling: `${bC}→${c.status}`,
        secondsToFinishAll: seconds,
      });
    }, 180_000);
  });
});
