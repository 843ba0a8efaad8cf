import { RENDER_CACHE_MS } from '../../src/platform/metrics/metrics.service';
import { useApp } from '../support/app-fixture';
import { authHeader, sampleValue, TENANT_A, TENANT_B } from '../support/harness';
import { createBatch, listFiles, PRO_TENANT, uploadFile } from './rate-limit-helpers';

/**
 * Rate limiting end to end: one app on the real Redis. Small limits keep it fast; batch creation
 * keeps its default (10 a minute) so the default is what is tested there.
 * Every test uses its own tenant/throttler pair or checks counts relative to what it did, so the
 * order of the tests does not matter.
 */
describe('Rate limiting (named throttlers, per tenant, OpenAI-shaped 429)', () => {
  const { app } = useApp({
    env: {
      APP_ROLE: 'api',
      API_KEYS: [
        `${TENANT_A.tenant}:${TENANT_A.key}`,
        `${TENANT_B.tenant}:${TENANT_B.key}`,
        `${PRO_TENANT.tenant}:${PRO_TENANT.key}:${PRO_TENANT.tier}`,
        'tenant-c:sk-test-tenant-c-0004',
        'tenant-d:sk-test-tenant-d-0005',
        'tenant-e:sk-test-tenant-e-0006',
      ].join(','),
      THROTTLE_TIERS: 'pro=3',
      THROTTLE_FILE_UPLOAD_LIMIT: '3',
      THROTTLE_READ_LIMIT: '5',
    },
  });

  it('30 rapid batch creations by one tenant get exactly the limit (10/min), then 429s with Retry-After and the OpenAI envelope', async () => {
    const file = (await (await uploadFile(app.url, TENANT_A.key)).json()) as { id: string };
    const responses = await Promise.all(
      Array.from({ length: 30 }, () => createBatch(app.url, TENANT_A.key, file.id)),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20);

    const rejected = responses.find((r) => r.status === 429)!;
    expect(await rejected.json()).toEqual({
      error: {
        message: 'Rate limit exceeded: 10 per 1 minute',
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
    const retryAfter = Number(rejected.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(rejected.headers.get('x-ratelimit-limit')).toBe('10');
    expect(rejected.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(rejected.headers.get('x-ratelimit-reset')).toBe(String(retryAfter));
    // Only the plain names: the library's per-throttler suffixes would be invisible to the SDKs.
    expect([...rejected.headers.keys()].filter((h) => /^(retry-after|x-ratelimit-)/.test(h)).sort()).toEqual([
      'retry-after',
      'x-ratelimit-limit',
      'x-ratelimit-remaining',
      'x-ratelimit-reset',
    ]);

    // Tenant A is throttled on batch creation only; tenant B's counter is untouched.
    const fileB = (await (await uploadFile(app.url, TENANT_B.key)).json()) as { id: string };
    const forB = await createBatch(app.url, TENANT_B.key, fileB.id);
    expect(forB.status).toBe(200);
    expect(forB.headers.get('x-ratelimit-remaining')).toBe('9');
    // A's reads are another throttler.
    expect((await listFiles(app.url, TENANT_A.key)).status).toBe(200);
  });

  it('sends X-RateLimit-Limit/-Remaining/-Reset on every throttled route', async () => {
    const key = 'sk-test-tenant-c-0004';
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await listFiles(app.url, key);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBe('5');
      const reset = Number(res.headers.get('x-ratelimit-reset'));
      expect(reset).toBeGreaterThan(0);
      expect(reset).toBeLessThanOrEqual(60);
      remaining.push(res.headers.get('x-ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['4', '3', '2']);
  });

  it('counts each route only against its own named throttler: exhausting file-upload leaves reads alone', async () => {
    const key = 'sk-test-tenant-d-0005';
    const uploads = [];
    for (let i = 0; i < 4; i++) uploads.push((await uploadFile(app.url, key)).status);
    expect(uploads).toEqual([200, 200, 200, 429]);

    const read = await listFiles(app.url, key);
    expect(read.status).toBe(200);
    expect(read.headers.get('x-ratelimit-remaining')).toBe('4');
    // GETs of files and batches share the one `reads` counter.
    const batchesRead = await fetch(`${app.url}/v1/batches`, { headers: authHeader(key) });
    expect(batchesRead.status).toBe(200);
    expect(batchesRead.headers.get('x-ratelimit-remaining')).toBe('3');
  });

  it("keeps tenants apart: tenant A's 429 on uploads leaves tenant B's uploads untouched", async () => {
    // Tenant A used one upload in the first test (or none if run alone): spend the rest.
    let status = 200;
    for (let i = 0; i < 4 && status !== 429; i++) status = (await uploadFile(app.url, TENANT_A.key)).status;
    expect(status).toBe(429);
    const forB = await uploadFile(app.url, TENANT_B.key);
    expect(forB.status).toBe(200);
    expect(Number(forB.headers.get('x-ratelimit-remaining'))).toBeGreaterThan(0);
  });

  it('multiplies the limit by the key tier (pro=3 gets 3 × 3 uploads)', async () => {
    const statuses = [];
    for (let i = 0; i < 10; i++) statuses.push((await uploadFile(app.url, PRO_TENANT.key)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(9);
    expect(statuses[9]).toBe(429);
  });

  it('counts requests without a valid key per client IP, so key guessing is throttled too', async () => {
    // Bad keys on the upload route: 401 until the IP's upload budget (3) is spent, then 429.
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await uploadFile(app.url, `sk-guess-${i}-xxxxxxxx`)).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    // A valid key from the same address is counted against its tenant, not the exhausted IP.
    const valid = await uploadFile(app.url, 'sk-test-tenant-e-0006');
    expect(valid.status).toBe(200);
    expect(valid.headers.get('x-ratelimit-remaining')).toBe('2');
    // Without any key, too.
    expect((await uploadFile(app.url, null)).status).toBe(429);
  });

  it('never throttles /metrics, /health, /ready, /docs and /admin', async () => {
    for (const path of ['/metrics', '/health', '/ready', '/docs-json']) {
      for (let i = 0; i < 8; i++) {
        const res = await fetch(`${app.url}${path}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('x-ratelimit-limit')).toBeNull();
      }
    }
    // A Prometheus scraping many pods, or several Prometheis at once: a burst far above any
    // limit, from one address, all answered.
    const burst = await Promise.all(
      Array.from({ length: 300 }, async () => (await fetch(`${app.url}/metrics`)).status),
    );
    expect(burst.filter((s) => s !== 200)).toEqual([]);
    // The admin board is off in this app (no ADMIN_USER): a plain 404, never a 429.
    for (let i = 0; i < 8; i++) expect((await fetch(`${app.url}/admin/queues`)).status).toBe(404);
  });

  it('counts 429s by throttler name in vllm_batch_throttled_requests_total', async () => {
    // A fresh rendering: the one another test's scrape left is served for a second.
    await new Promise((r) => setTimeout(r, RENDER_CACHE_MS + 100));
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(
      sampleValue(text, 'vllm_batch_throttled_requests_total', { throttler: 'batch-create' }),
    ).toBeGreaterThanOrEqual(20);
    expect(
      sampleValue(text, 'vllm_batch_throttled_requests_total', { throttler: 'file-upload' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sampleValue(text, 'vllm_batch_http_requests_total', {
        method: 'POST',
        route: '/v1/batches',
        status: '429',
      }),
    ).toBeGreaterThanOrEqual(20);
  });
});
