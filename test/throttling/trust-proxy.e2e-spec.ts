import { useApp } from '../support/app-fixture';
import { startApp, TestApp } from '../support/test-app';
import { uploadFile } from './rate-limit-helpers';

/**
 * Requests without a valid key are counted per client address. Which address that is depends on
 * TRUST_PROXY: without it the socket's peer (forwarding headers are a client's say-so); with it,
 * X-Forwarded-For as Express resolves it for the trusted proxies.
 */
describe('Rate limiting by client address and TRUST_PROXY', () => {
  const apps: TestApp[] = [];

  // Before the environment's teardown: the apps use its database.
  afterAll(async () => {
    for (const app of apps) await app.close();
  });

  const { env } = useApp({ app: false, env: { APP_ROLE: 'api', THROTTLE_FILE_UPLOAD_LIMIT: '2' } });

  const start = async (overrides: Record<string, string>): Promise<TestApp> => {
    const app = await startApp({ ...env.env, ...overrides });
    apps.push(app);
    return app;
  };

  it('ignores X-Forwarded-For and X-Real-IP without TRUST_PROXY: rotating them does not escape the limit', async () => {
    const app = await start({});
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const spoofed = { 'X-Forwarded-For': `203.0.113.${i + 1}`, 'X-Real-IP': `198.51.100.${i + 1}` };
      statuses.push((await uploadFile(app.url, null, spoofed)).status);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    await app.close();
    apps.pop();
  });

  it('counts per X-Forwarded-For client with TRUST_PROXY set', async () => {
    // The same Redis prefix as above: 127.0.0.1 is spent, but with a trusted proxy the counter is
    // the forwarded client's.
    const app = await start({ TRUST_PROXY: 'true' });
    const first = [];
    for (let i = 0; i < 3; i++)
      first.push((await uploadFile(app.url, null, { 'X-Forwarded-For': '203.0.113.7' })).status);
    expect(first).toEqual([401, 401, 429]);
    // Another client behind the same proxy has its own budget.
    expect((await uploadFile(app.url, null, { 'X-Forwarded-For': '203.0.113.8' })).status).toBe(401);
  });

  it('with a hop count, believes only that many proxies (the left-most, client-written entries do not count)', async () => {
    const app = await start({ TRUST_PROXY: '1' });
    // One trusted hop: the client is the right-most entry, whatever the client wrote before it.
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(
        (await uploadFile(app.url, null, { 'X-Forwarded-For': `10.9.9.${i}, 192.0.2.50` })).status,
      );
    }
    expect(statuses).toEqual([401, 401, 429]);
  });
});
