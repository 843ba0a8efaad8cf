import {
  authHeader,
  createTestEnv,
  killAll,
  ServiceProcess,
  startService,
  TENANT_A,
  TENANT_B,
  TestEnv,
} from '../support/harness';

/**
 * The issue's own acceptance check, with real processes: two API processes behind "one address"
 * (requests alternate between them) share one Redis, so 30 rapid creations by one tenant give
 * exactly 10 successes between them, then 429s with Retry-After, while another tenant is untouched.
 */
describe('batch-create limit across two API processes', () => {
  let env: TestEnv;
  let apis: ServiceProcess[] = [];

  beforeAll(async () => {
    env = await createTestEnv({ LOG_LEVEL: 'warn' });
    // The first process migrates; the second starts on the migrated database.
    apis = [await startService('api', env.env, 'api-1')];
    apis.push(await startService('api', env.env, 'api-2'));
  }, 120_000);

  afterAll(async () => {
    await killAll();
    await env?.dispose();
  });

  const upload = async (base: string, key: string): Promise<string> => {
    const form = new FormData();
    form.set('purpose', 'batch');
    form.set(
      'file',
      new Blob(['{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}\n']),
      'in.jsonl',
    );
    const res = await fetch(`${base}/v1/files`, { method: 'POST', body: form, headers: authHeader(key) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { id: string }).id;
  };

  const create = (base: string, key: string, fileId: string) =>
    fetch(`${base}/v1/batches`, {
      method: 'POST',
      headers: { ...authHeader(key), 'content-type': 'application/json' },
      body: JSON.stringify({
        input_file_id: fileId,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    });

  it('admits exactly 10 of 30 creations between both processes, then 429 with Retry-After; B is unaffected', async () => {
    const fileA = await upload(apis[0].url, TENANT_A.key);
    const fileB = await upload(apis[1].url, TENANT_B.key);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    let body: unknown = null;
    for (let i = 0; i < 30; i++) {
      const res = await create(apis[i % 2].url, TENANT_A.key, fileA);
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after');
        body = await res.json();
      } else await res.arrayBuffer();
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses.slice(10)).toEqual(Array(20).fill(429));
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(body).toEqual({
      error: {
        message: 'Rate limit exceeded: 10 per 1 minute',
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });

    const other = await create(apis[1].url, TENANT_B.key, fileB);
    expect(other.status).toBe(200);
    expect(other.headers.get('x-ratelimit-remaining')).toBe('9');
  });
});
