import { rm, writeFile } from 'node:fs/promises';
import {
  createTestEnv,
  killAll,
  metricValue,
  PrivatePostgres,
  PrivateRedis,
  ServiceProcess,
  startService,
  TestEnv,
  until,
} from '../support/harness';

interface ReadyBody {
  status: string;
  postgres: string;
  redis: string;
  storage: string;
}

/**
 * /ready through the built service, so its log can be read: the body names each dependency's state
 * and nothing else; why one is down goes to the log, once, not at every probe.
 */
describe('GET /ready, every dependency required at once (READY_REQUIRES=postgres,redis,storage)', () => {
  let env: TestEnv;
  let redis: PrivateRedis;
  let api: ServiceProcess;

  beforeAll(async () => {
    // A private redis-server to take away: the machine's own is never stopped.
    redis = await PrivateRedis.start();
    env = await createTestEnv({
      REDIS_URL: redis.url,
      LOG_LEVEL: 'info',
      READY_REQUIRES: 'postgres,redis,storage',
      READY_FAIL_AFTER_SECONDS: '0',
    });
    api = await startService('api', env.env);
  }, 90_000);

  afterAll(async () => {
    await killAll();
    await env?.dispose();
  });

  const ready = async (): Promise<{ status: number; text: string; body: ReadyBody }> => {
    const res = await fetch(`${api.url}/ready`, { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) as ReadyBody };
  };
  const warnings = (dep: string): string[] =>
    api.proc
      .output()
      .split('\n')
      .filter((line) => line.includes(`${dep} is down`));

  it('answers 200 naming every dependency when all are up', async () => {
    const res = await ready();
    expect(res.status).toBe(200);
    expect(res.text).toBe('{"status":"ok","postgres":"up","redis":"up","storage":"up"}');
  });

  it('answers 503 with Redis "down" and the others "up"; the reason is logged once, not answered', async () => {
    await redis.kill();
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await ready());
    for (const res of answers) {
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: 'error', postgres: 'up', redis: 'down', storage: 'up' });
    }
    const logged = await until(
      () => (warnings('redis').length ? warnings('redis') : null),
      5000,
      'a warning',
    );
    expect(logged[0]).toContain(`Redis at 127.0.0.1:${redis.port}`);
    expect(answers.map((a) => a.text).join('')).not.toMatch(/127\.0\.0\.1|connection|ECONNREFUSED/);
    // Five probes in a row, one warning: a load balancer probing every few seconds must not flood the log.
    expect(warnings('redis')).toHaveLength(1);

    await redis.restart();
    await until(async () => (await ready()).status === 200, 15_000, '/ready to be green again');
    // The log reaches its file through a pipe: wait for the line rather than read it at once.
    await until(() => /redis is up again/.test(api.proc.output()), 5000, 'the recovery to be logged');
  });

  it('answers 503 with storage "down" when the storage folder cannot be used', async () => {
    // The folder replaced by a plain file: nothing can be stored there.
    await rm(env.storageDir, { recursive: true, force: true });
    await writeFile(env.storageDir, 'not a folder');
    try {
      const res = await ready();
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ status: 'error', postgres: 'up', redis: 'up', storage: 'down' });
      expect(res.text).not.toContain(env.storageDir);
      const logged = await until(
        () => (warnings('storage').length ? warnings('storage') : null),
        5000,
        'a warning',
      );
      expect(logged[0]).toContain(env.storageDir);
    } finally {
      await rm(env.storageDir, { force: true });
    }
    expect((await ready()).status).toBe(200);
  });
});

/**
 * The defaults: readiness fails only for what this pod cannot serve without (PostgreSQL), and only
 * once it has been gone for READY_FAIL_AFTER_SECONDS, since a blip of a shared dependency must not
 * take every pod out of the Service at once. Losses are still named in the body and in
 * `vllm_batch_dependency_up`, which alerts read.
 */
describe('GET /ready with the defaults (per pod, not per fleet)', () => {
  let env: TestEnv;
  let redis: PrivateRedis;
  let pg: PrivatePostgres;
  let api: ServiceProcess;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    pg = await PrivatePostgres.start();
    env = await createTestEnv({ REDIS_URL: redis.url, READY_FAIL_AFTER_SECONDS: '3' });
    api = await startService('api', { ...env.env, DATABASE_URL: `${pg.url}/vllm_batch_ready` });
  }, 90_000);

  afterAll(async () => {
    await killAll();
    await env?.dispose();
    await pg?.destroy();
  }, 60_000);

  const ready = async (): Promise<{ status: number; body: ReadyBody }> => {
    const res = await fetch(`${api.url}/ready`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: (await res.json()) as ReadyBody };
  };

  it('stays ready without Redis (reported "degraded", and 0 in vllm_batch_dependency_up)', async () => {
    await redis.kill();
    const res = await ready();
    expect(res).toEqual({
      status: 200,
      body: { status: 'degraded', postgres: 'up', redis: 'down', storage: 'up' },
    });
    await until(
      async () =>
        metricValue(await api.metrics(), 'vllm_batch_dependency_up', { dependency: 'redis' }) === 0 || null,
      15_000,
      'the gauge to show Redis down',
    );
    await redis.restart();
    await until(async () => (await ready()).body.status === 'ok', 15_000, 'all up again');
  });

  it('rides out a short PostgreSQL loss, then fails once it lasts past READY_FAIL_AFTER_SECONDS', async () => {
    pg.stopServer();
    const first = await ready();
    expect(first).toEqual({
      status: 200,
      body: { status: 'degraded', postgres: 'down', redis: 'up', storage: 'up' },
    });
    const failed = await until(
      async () => {
        const r = await ready();
        return r.status === 503 ? r : null;
      },
      15_000,
      'readiness to fail',
    );
    expect(failed.body).toEqual({ status: 'error', postgres: 'down', redis: 'up', storage: 'up' });
    await pg.restart();
    await until(async () => (await ready()).status === 200, 30_000, 'ready again');
  }, 60_000);
});
