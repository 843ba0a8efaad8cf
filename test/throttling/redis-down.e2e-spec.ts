import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { createTestEnv, TENANT_A, TENANT_B, TestEnv } from '../support/harness';
import { startApp, TestApp } from '../support/test-app';
import { sampleValue } from '../support/harness';
import { uploadFile } from './rate-limit-helpers';

/** A port nothing listens on (bound once by us, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A private, throw-away redis-server for the outage test (never the shared one on 6379). */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 50; i++) {
    if (
      spawnSync('redis-cli', ['-p', String(port), 'ping'])
        .stdout?.toString()
        .trim() === 'PONG'
    )
      return child;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not start`);
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

/**
 * While the rate-limit Redis is unreachable the API fails open: requests are served unthrottled
 * (never a 500), without X-RateLimit headers, counted in vllm_batch_throttle_fail_open_total.
 * THROTTLE_REDIS_URL points the counters at another Redis than the queues, which is how these
 * tests take it away without touching the queues' Redis.
 */
describe('Rate limiting while Redis is down', () => {
  let env: TestEnv;
  let app: TestApp | undefined;
  let redis: ChildProcess | undefined;

  beforeAll(async () => {
    env = await createTestEnv({ APP_ROLE: 'api', THROTTLE_FILE_UPLOAD_LIMIT: '2' });
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    if (redis) await stopRedis(redis);
    redis = undefined;
  });

  afterAll(async () => {
    await env?.dispose();
  });

  it('starts and serves unthrottled when the rate-limit Redis is not there at all', async () => {
    const started = Date.now();
    app = await startApp({ ...env.env, THROTTLE_REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(Date.now() - started).toBeLessThan(10_000);

    const responses = [];
    for (let i = 0; i < 5; i++) responses.push(await uploadFile(app.url, TENANT_A.key));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(responses[0].headers.get('x-ratelimit-limit')).toBeNull();

    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(sampleValue(metrics, 'vllm_batch_throttle_fail_open_total', { throttler: 'file-upload' })).toBe(5);
  });

  (hasRedisServer ? it : it.skip)(
    'fails open when Redis goes away mid-flight and enforces limits again once it is back',
    async () => {
      const port = await freePort();
      redis = await startRedis(port);
      app = await startApp({ ...env.env, THROTTLE_REDIS_URL: `redis://127.0.0.1:${port}` });

      const before = [];
      for (let i = 0; i < 3; i++) before.push((await uploadFile(app.url, TENANT_B.key)).status);
      expect(before).toEqual([200, 200, 429]);

      await stopRedis(redis);
      redis = undefined;
      const during = [];
      for (let i = 0; i < 4; i++) during.push((await uploadFile(app.url, TENANT_B.key)).status);
      expect(during).toEqual([200, 200, 200, 200]);

      // A fresh, empty Redis on the same address: ioredis reconnects on its own and counting resumes.
      redis = await startRedis(port);
      let headers: string | null = null;
      for (let i = 0; i < 100 && headers === null; i++) {
        await sleep(100);
        headers = (await uploadFile(app.url, TENANT_A.key)).headers.get('x-ratelimit-limit');
      }
      expect(headers).toBe('2');
      expect((await uploadFile(app.url, TENANT_A.key)).status).toBe(200);
      expect((await uploadFile(app.url, TENANT_A.key)).status).toBe(429);
    },
  );
});
