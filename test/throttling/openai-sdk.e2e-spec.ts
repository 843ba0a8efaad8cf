import OpenAI from 'openai';
import { useApp } from '../support/app-fixture';
import { TENANT_A } from '../support/harness';

/** The official SDK must get through a 429 on its own: it waits for Retry-After and retries. */
describe('The openai SDK and the 429', () => {
  const { app } = useApp({
    env: { APP_ROLE: 'api', THROTTLE_READ_LIMIT: '2', THROTTLE_READ_TTL_MS: '1500' },
  });

  it('recovers from a 429 by honouring Retry-After', async () => {
    const seen: { status: number; retryAfter: string | null }[] = [];
    const recordingFetch: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      seen.push({ status: res.status, retryAfter: res.headers.get('retry-after') });
      return res;
    };
    const client = new OpenAI({
      baseURL: `${app.url}/v1`,
      apiKey: TENANT_A.key,
      maxRetries: 2,
      fetch: recordingFetch,
    });

    const started = Date.now();
    for (let i = 0; i < 3; i++) {
      const page = await client.files.list();
      expect(page.data).toEqual([]);
    }

    const throttled = seen.filter((s) => s.status === 429);
    expect(throttled.length).toBeGreaterThanOrEqual(1);
    expect(throttled[0].retryAfter).toBe('2');
    expect(seen[seen.length - 1].status).toBe(200);
    // It waited for the window instead of hammering: at least most of Retry-After passed.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });
});
