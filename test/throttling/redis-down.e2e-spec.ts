import { useApp } from '../support/app-fixture';
import { freePort, PrivateRedis, sampleValue, sleep, TENANT_A, TENANT_B } from '../support/harness';
import { startApp, TestApp } from '../support/test-app';
import { uploadFile } from './rate-limit-helpers';

/**
 * While the rate-limit Redis is unreachable the API fails open: requests are served unthrottled
 * (never a 500), without X-RateLimit headers, counted in vllm_batch_throttle_fail_open_total.
 * THROTTLE_REDIS_URL points the counters at another Redis than the queues, which is how these
 * tests take it away without touching the queues' Redis.
 */
describe('Rate limiting while Redis is down', () => {
  const { env } = useApp({ app: false, env: { APP_ROLE: 'api', THROTTLE_FILE_UPLOAD_LIMIT: '2' } });
  let app: TestApp | undefined;
  let redis: PrivateRedis | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
    await redis?.kill();
    redis = undefined;
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

  it('fails open when Redis goes away mid-flight and enforces limits again once it is back', async () => {
    redis = await PrivateRedis.start();
    app = await startApp({ ...env.env, THROTTLE_REDIS_URL: redis.url });

    const before = [];
    for (let i = 0; i < 3; i++) before.push((await uploadFile(app.url, TENANT_B.key)).status);
    expect(before).toEqual([200, 200, 429]);

    await redis.kill();
    const during = [];
    for (let i = 0; i < 4; i++) during.push((await uploadFile(app.url, TENANT_B.key)).status);
    expect(during).toEqual([200, 200, 200, 200]);

    // A fresh, empty Redis on the same address: ioredis reconnects on its own and counting resumes.
    await redis.restart();
    let headers: string | null = null;
    for (let i = 0; i < 100 && headers === null; i++) {
      await sleep(100);
      headers = (await uploadFile(app.url, TENANT_A.key)).headers.get('x-ratelimit-limit');
    }
    expect(headers).toBe('2');
    expect((await uploadFile(app.url, TENANT_A.key)).status).toBe(200);
    expect((await uploadFile(app.url, TENANT_A.key)).status).toBe(429);
  });
});
