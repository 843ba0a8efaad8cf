import {
  authHeader,
  createTestEnv,
  killAll,
  ServiceProcess,
  startService,
  TENANT_A,
  TestEnv,
  until,
} from '../support/harness';

/**
 * Secrets through the built service, its log read back: every header and query parameter the
 * redaction rule names, sent with a value found nowhere else, and passwords in the connection URLs
 * the service starts with. None of the values may appear in the log; `[redacted]` must, and
 * ordinary parameters that merely end like a secret word (`task`, `disk`) must stay.
 */
describe('log redaction', () => {
  let env: TestEnv;
  let api: ServiceProcess;
  const DB_PASSWORD = 'pg-pass-7c1e0b';
  const REDIS_PASSWORD = 'redis-pass-51aa9d';
  const VLLM_PASSWORD = 'vllm-pass-0e4f2a';

  beforeAll(async () => {
    env = await createTestEnv();
    const withPassword = (url: string, user: string, password: string): string => {
      const u = new URL(url);
      u.username = user;
      u.password = password;
      return u.toString().replace(/\/$/, '');
    };
    api = await startService('all', {
      ...env.env,
      LOG_LEVEL: 'info',
      // The machine's PostgreSQL trusts local connections and its Redis has no password: both accept
      // the URLs as they are, so the passwords are there only to be kept out of the log.
      DATABASE_URL: withPassword(env.databaseUrl, 'postgres', DB_PASSWORD),
      REDIS_URL: withPassword(env.env.REDIS_URL, 'default', REDIS_PASSWORD),
      VLLM_BASE_URL: `http://batch:${VLLM_PASSWORD}@127.0.0.1:9/v1`,
    });
  }, 90_000);

  afterAll(async () => {
    await killAll();
    await env?.dispose();
  });

  it('keeps secret headers, secret query parameters and URL passwords out of every log line', async () => {
    const secrets: string[] = [DB_PASSWORD, REDIS_PASSWORD, VLLM_PASSWORD];
    const value = (name: string): string => {
      const v = `secret-${name.replace(/[^a-z]/gi, '')}-${secrets.length}-${Math.random().toString(36).slice(2, 8)}`;
      secrets.push(v);
      return v;
    };
    const headerNames = [
      'api-key',
      'X-Auth-Token',
      'Proxy-Authorization',
      'X-Api-Key',
      'Cookie',
      'X-Session-Id',
      'X-Webhook-Signature',
    ];
    const paramNames = [
      'sk',
      'api-key',
      'x-auth-token',
      'proxy-authorization',
      'access_token',
      'code',
      'password',
    ];
    for (const path of ['/v1/files', '/v1/batches/batch_nope']) {
      const headers: Record<string, string> = { ...authHeader(TENANT_A.key) };
      for (const name of headerNames) headers[name] = value(name);
      const query = paramNames.map((name) => `${encodeURIComponent(name)}=${value(name)}`).join('&');
      const res = await fetch(`${api.url}${path}?task=keep-task-1&${query}&disk=keep-disk-2`, { headers });
      await res.arrayBuffer();
    }
    // An unauthenticated request with the key in a header the auth does not read.
    const last = await fetch(`${api.url}/v1/files`, { headers: { 'api-key': value('api-key') } });
    const lastId = last.headers.get('x-request-id') as string;

    // Absence proves something only once the log holds the last request.
    await until(() => api.proc.output().includes(lastId), 10_000, 'the request log');
    const log = api.proc.output();
    for (const secret of secrets)
      expect({ secret, logged: log.includes(secret) }).toEqual({ secret, logged: false });
    expect(log).toContain('[redacted]');
    expect(log).toContain('"x-auth-token":"[redacted]"');
    expect(log).toContain('"sk":"[redacted]"');
    expect(log).toContain('task=keep-task-1');
    expect(log).toContain('"disk":"keep-disk-2"');
    // The worker's pool still says where its upstream is, without its password.
    expect(log).toContain('upstreams from VLLM_BASE_URL http://[redacted]@127.0.0.1:9/v1');
  });
});
