import { useApp } from '../support/app-fixture';
import { authHeader, PrivateRedis, TENANT_A } from '../support/harness';
import { startApp } from '../support/test-app';

const basic = (user: string, password: string): Record<string, string> => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});
/** TRUST_PROXY is on in these tests, so this header picks the client address a request counts against. */
const from = (address: string): Record<string, string> => ({ 'X-Forwarded-For': address });

const ADMIN = { user: 'ops', password: 'board-pass-9f2c' };
const ADMIN_ENV = { APP_ROLE: 'api', ADMIN_USER: ADMIN.user, ADMIN_PASSWORD: ADMIN.password };
const ADD_JOB = '/admin/queues/api/queues/webhooks/add';

interface Envelope {
  error: { message: string; type: string; param: string | null; code: string | null };
}

describe('Bull Board at /admin/queues on ADMIN_PORT', () => {
  const { env, app } = useApp({ env: { ...ADMIN_ENV, TRUST_PROXY: 'loopback' } });

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
        const res = await fetch(`${app.adminUrl}${path}`, {
          headers: { ...headers, ...from('198.51.100.1') },
        });
        expect({ path, headers, status: res.status }).toEqual({ path, headers, status: 401 });
        expect(res.headers.get('www-authenticate')).toBe('Basic realm="vllm-batch admin", charset="UTF-8"');
      }
    }
  });

  it('serves the board and both queues with the right credentials (no API key needed)', async () => {
    const page = await fetch(`${app.adminUrl}/admin/queues`, { headers: basic(ADMIN.user, ADMIN.password) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('x-ratelimit-limit')).toBeNull();

    const api = await fetch(`${app.adminUrl}/admin/queues/api/queues`, {
      headers: basic(ADMIN.user, ADMIN.password),
    });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['batches', 'webhooks']);
  });

  it('blocks an address after ADMIN_AUTH_FAIL_LIMIT (10) failed logins a minute, even with the right password', async () => {
    const guesser = from('203.0.113.7');
    const statuses: number[] = [];
    let blocked: Response | undefined;
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const res = await fetch(`${app.adminUrl}/admin/queues/api/queues`, {
          headers: { ...basic(ADMIN.user, `guess-${i}`), ...guesser },
        });
        statuses.push(res.status);
        if (res.status === 429) blocked = res;
        else await res.arrayBuffer();
      }),
    );
    // The burst races the counter, so which requests got through varies, but never more than the limit.
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20);
    expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
    expect(Number(blocked?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(blocked?.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(((await blocked!.json()) as Envelope).error).toMatchObject({
      type: 'requests',
      code: 'rate_limit_exceeded',
      param: null,
    });

    // While blocked, the right password does not help that address...
    const right = await fetch(`${app.adminUrl}/admin/queues/api/queues`, {
      headers: { ...basic(ADMIN.user, ADMIN.password), ...guesser },
    });
    expect(right.status).toBe(429);
    expect(right.headers.get('retry-after')).toMatch(/^\d+$/);
    // ...and another address is not affected.
    const other = await fetch(`${app.adminUrl}/admin/queues/api/queues`, {
      headers: { ...basic(ADMIN.user, ADMIN.password), ...from('203.0.113.8') },
    });
    expect(other.status).toBe(200);
  });

  it('counts per address behind a trusted proxy only as Express resolves it (one hop)', async () => {
    // The guesser varies the left-most X-Forwarded-For entry; the proxy appends the real address.
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${app.adminUrl}/admin/queues/api/queues`, {
        headers: { ...basic(ADMIN.user, 'nope'), 'X-Forwarded-For': `10.0.0.${i}, 203.0.113.9` },
      });
      statuses.push(res.status);
    }
    // TRUST_PROXY=loopback trusts only the loopback hop, so req.ip is the right-most entry.
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual([429, 429]);
  });

  it('refuses state-changing requests from another site (403) and lets scripts and the board itself through', async () => {
    const admin = {
      ...basic(ADMIN.user, ADMIN.password),
      'Content-Type': 'application/json',
      ...from('192.0.2.4'),
    };
    const post = (headers: Record<string, string>): Promise<Response> =>
      fetch(`${app.adminUrl}${ADD_JOB}`, {
        method: 'POST',
        headers: { ...admin, ...headers },
        body: JSON.stringify({ name: 'from-test', data: {} }),
      });
    const host = new URL(app.adminUrl!).host;

    for (const headers of <Record<string, string>[]>[
      { Origin: 'https://evil.example' },
      { Origin: 'null' },
      { 'Sec-Fetch-Site': 'cross-site' },
      { 'Sec-Fetch-Site': 'same-site' },
      { Origin: `http://${host}`, 'Sec-Fetch-Site': 'cross-site' },
    ]) {
      const res = await post(headers);
      expect({ headers, status: res.status }).toEqual({ headers, status: 403 });
      expect(((await res.json()) as Envelope).error).toMatchObject({
        type: 'invalid_request_error',
        code: 'cross_site_request',
      });
    }
    const jobs = async (): Promise<number> => {
      const res = await fetch(`${app.adminUrl}/admin/queues/api/queues?activeQueue=webhooks&status=waiting`, {
        headers: admin,
      });
      const body = (await res.json()) as { queues: { name: string; counts: { waiting: number } }[] };
      return body.queues.find((q) => q.name === 'webhooks')!.counts.waiting;
    };
    expect(await jobs()).toBe(0);

    // No Origin at all (curl, scripts), the board's own page, or a typed URL: they reach the board.
    for (const headers of <Record<string, string>[]>[
      {},
      { Origin: `http://${host}`, 'Sec-Fetch-Site': 'same-origin' },
      { 'Sec-Fetch-Site': 'none' },
    ]) {
      const res = await post(headers);
      expect({ headers, status: res.status }).toEqual({ headers, status: 200 });
    }
    expect(await jobs()).toBe(3);

    // Reads stay open to any origin (they change nothing); a cross-site write without credentials is still a 403.
    const read = await fetch(`${app.adminUrl}/admin/queues/api/queues`, {
      headers: { ...admin, Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' },
    });
    expect(read.status).toBe(200);
  });

  it('is absent from the public port (404 under /admin, even with the right credentials)', async () => {
    expect(app.adminUrl).not.toBe(app.url);
    for (const path of ['/admin/queues', '/admin/queues/api/queues', ADD_JOB]) {
      for (const method of ['GET', 'POST']) {
        const res = await fetch(`${app.url}${path}`, { method, headers: basic(ADMIN.user, ADMIN.password) });
        expect({ path, method, status: res.status }).toEqual({ path, method, status: 404 });
        expect(((await res.json()) as Envelope).error.message).toMatch(/^Invalid URL/);
      }
    }
    // And the admin port serves nothing but the board.
    const stray = await fetch(`${app.adminUrl}/v1/files`, { headers: authHeader(TENANT_A.key) });
    expect(stray.status).toBe(404);
  });

  it('is not served at all (404) when ADMIN_USER/ADMIN_PASSWORD are unset', async () => {
    const { ADMIN_USER: _user, ADMIN_PASSWORD: _password, ...withoutAdmin } = env.env;
    const plain = await startApp({ ...withoutAdmin, MIGRATIONS_RUN: 'false' });
    try {
      expect(plain.adminUrl).toBeNull();
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
      expect(worker.adminUrl).toBeNull();
      expect(
        (await fetch(`${worker.url}/admin/queues`, { headers: basic(ADMIN.user, ADMIN.password) })).status,
      ).toBe(404);
    } finally {
      await worker.close();
    }
  });
});

describe('Bull Board while Redis is down', () => {
  let redis: PrivateRedis;

  beforeAll(async () => {
    // A private redis-server for the queues and the login counters: the machine's own is never stopped.
    redis = await PrivateRedis.start();
  });

  const { app } = useApp({ env: () => ({ ...ADMIN_ENV, REDIS_URL: redis.url }) });

  afterAll(async () => {
    await redis?.kill();
  });

  it('answers 503 in the envelope instead of hanging, and serves again once Redis is back', async () => {
    const board = (): Promise<Response> =>
      fetch(`${app!.adminUrl}/admin/queues/api/queues`, {
        headers: basic(ADMIN.user, ADMIN.password),
        // Without the check the request waits for as long as Redis is away: fail rather than wait.
        signal: AbortSignal.timeout(15_000),
      });
    expect((await board()).status).toBe(200);

    await redis.kill();
    for (const res of [await board(), await board()]) {
      expect(res.status).toBe(503);
      expect(((await res.json()) as Envelope).error).toMatchObject({
        type: 'server_error',
        code: 'service_unavailable',
      });
    }

    await redis.restart();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await board()).status;
    }
    expect(status).toBe(200);
  });
});
