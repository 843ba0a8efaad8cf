import { useApp } from '../support/app-fixture';
import { TENANT_A, TENANT_B } from '../support/harness';
import { startApp, TestApp } from '../support/test-app';
import { listFiles, uploadFile } from './rate-limit-helpers';

/** Several API replicas share one Redis: a limit is a limit across all of them. */
describe('Rate limits shared by several API processes', () => {
  let second: TestApp;

  // Before the environment's teardown: both apps use its database.
  afterAll(async () => {
    await second?.close();
  });

  const { env, app: first } = useApp({
    env: { APP_ROLE: 'api', THROTTLE_FILE_UPLOAD_LIMIT: '4', THROTTLE_READ_LIMIT: '6' },
  });

  beforeAll(async () => {
    // The same env twice: same database and, what matters here, the same Redis key prefix.
    second = await startApp({ ...env.env, MIGRATIONS_RUN: 'false' });
  });

  it('allows N uploads in total across two instances, not 2N', async () => {
    const statuses = [];
    for (let i = 0; i < 8; i++)
      statuses.push((await uploadFile(i % 2 === 0 ? first.url : second.url, TENANT_A.key)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    expect(statuses.slice(4)).toEqual([429, 429, 429, 429]);
  });

  it('shares counters under concurrent load on both instances', async () => {
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => listFiles(i % 2 === 0 ? first.url : second.url, TENANT_B.key)),
    );
    expect(responses.filter((r) => r.status === 200)).toHaveLength(6);
    expect(responses.filter((r) => r.status === 429)).toHaveLength(14);
  });
});
