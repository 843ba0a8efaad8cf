import { authHeader, createTestEnv, startApp, TENANT_A, TestApp, TestEnv } from '../support/test-app';

const basic = (user: string, password: string): Record<string, string> => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

describe('Bull Board at /admin/queues', () => {
  let env: TestEnv;
  let app: TestApp;
  const ADMIN = { user: 'ops', password: 'board-pass-9f2c' };

  beforeAll(async () => {
    env = await createTestEnv({ APP_ROLE: 'api', ADMIN_USER: ADMIN.user, ADMIN_PASSWORD: ADMIN.password });
    app = await startApp(env.env);
  });

  afterAll(async () => {
    await app?.close();
    await env?.dispose();
  });

  it('answers 401 with a Basic challenge without credentials, or with wrong ones', async () => {
    const cases: Record<string, string>[] = [
      {},
      basic(ADMIN.user, 'wrong-password'),
      basic('someone-else', ADMIN.password),
      basic(ADMIN.user, ''),
      { Authorization: 'Basic !!!not-base64' },
      // An API key opens the API, not the admin board.
      authHeader(TENANT_A.key),
    ];
    for (const headers of cases) {
      for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
        const res = await fetch(`${app.url}${path}`, { headers });
        expect({ path, headers, status: res.status }).toEqual({ path, headers, status: 401 });
        expect(res.headers.get('www-authenticate')).toBe('Basic realm="vllm-batch admin", charset="UTF-8"');
      }
    }
  });

  it('serves the board and both queues with the right credentials (no API key needed)', async () => {
    const page = await fetch(`${app.url}/admin/queues`, { headers: basic(ADMIN.user, ADMIN.password) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('x-ratelimit-limit')).toBeNull();

    const api = await fetch(`${app.url}/admin/queues/api/queues`, {
      headers: basic(ADMIN.user, ADMIN.password),
    });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['batches', 'maintenance']);
  });

  it('is not served at all (404) when ADMIN_USER/ADMIN_PASSWORD are unset', async () => {
    const { ADMIN_USER: _user, ADMIN_PASSWORD: _password, ...withoutAdmin } = env.env;
    const plain = await startApp({ ...withoutAdmin, MIGRATIONS_RUN: 'false' });
    try {
      for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
        expect((await fetch(`${plain.url}${path}`)).status).toBe(404);
        expect(
          (await fetch(`${plain.url}${path}`, { headers: basic(ADMIN.user, ADMIN.password) })).status,
        ).toBe(404);
      }
    } finally {
      await plain.close();
    }
  });

  it('is not served by a worker-only process', async () => {
    const worker = await startApp({ ...env.env, MIGRATIONS_RUN: 'false', APP_ROLE: 'worker' });
    try {
      expect(
        (await fetch(`${worker.url}/admin/queues`, { headers: basic(ADMIN.user, ADMIN.password) })).status,
      ).toBe(404);
    } finally {
      await worker.close();
    }
  });
});
