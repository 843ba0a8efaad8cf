import OpenAI from 'openai';
import { Client } from 'pg';
import { chatLine, toJsonl, uploadBatchFile, waitForBatch, waitUntil } from '../support/batch-helpers';
import { fixedInflight, RELAXED_LIMITS, useApp } from '../support/app-fixture';
import { metricValue, sdkClient, sleep, TENANT_A, TENANT_B } from '../support/harness';
import { ReceivedWebhook, testWebhookSecret, WebhookReceiver } from '../support/webhook-receiver';

const TENANT_C = { tenant: 'tenant-c', key: 'sk-test-tenant-c-0003' }; // no webhook
const TENANT_D = { tenant: 'tenant-d', key: 'sk-test-tenant-d-0004' }; // a receiver that always fails
const SECRET_A = testWebhookSecret('tenant-a-own-secret');
const SECRET_DEFAULT = testWebhookSecret('the-default-secret');
const SECRET_D = testWebhookSecret('tenant-d-own-secret');
const SCHEDULE = [0, 1, 1, 1, 1];

/**
 * Signed webhooks end to end: the whole app in-process against the simulator, a real local HTTP
 * receiver, and the official SDK's `webhooks.unwrap()` as the verifier a user would run.
 */
describe('Webhooks (signed batch events, verified with the official SDK)', () => {
  let receiver: WebhookReceiver;
  let db: Client;
  const sdk: Record<string, OpenAI> = {};
  const verifier = new OpenAI({ apiKey: 'unused' });
  const tenants = [TENANT_A, TENANT_B, TENANT_C, TENANT_D];

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
  });

  // Before the app's teardown, whose DROP DATABASE would cut this connection.
  afterAll(async () => {
    await db?.end();
  });

  const { sim, env, app } = useApp({
    simulator: { stepBaseMs: 2, stepPerSeqMs: 0.01, outputTokens: 4 },
    env: () => ({
      API_KEYS: tenants.map((t) => `${t.tenant}:${t.key}`).join(','),
      WEBHOOKS: JSON.stringify({
        [TENANT_A.tenant]: { url: receiver.url('/a'), secret: SECRET_A },
        [TENANT_B.tenant]: { url: receiver.url('/b') },
        [TENANT_D.tenant]: { url: receiver.url('/d'), secret: SECRET_D },
      }),
      WEBHOOK_SECRET: SECRET_DEFAULT,
      WEBHOOK_RETRY_SCHEDULE: SCHEDULE.join(','),
      WEBHOOK_TIMEOUT_MS: '2000',
      BATCH_COMPLETION_WINDOWS: '1h,3s',
      ...fixedInflight(16),
      RECONCILE_INTERVAL_MS: '1000',
      ...RELAXED_LIMITS,
    }),
  });

  beforeAll(async () => {
    for (const t of tenants) sdk[t.tenant] = sdkClient(app.url, t.key);
    db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await receiver?.close();
  });

  beforeEach(() => sim.setOptions({ stepBaseMs: 2, stepPerSeqMs: 0.01, outputTokens: 4 }));

  async function runBatch(tenant: string, lines: number, window = '24h', body?: string): Promise<string> {
    const client = sdk[tenant];
    const text =
      body ??
      toJsonl(Array.from({ length: lines }, (_, i) => chatLine(`r${i}`, `q${i}`, { max_tokens: 20 })));
    const batch = await client.batches.create({
      input_file_id: await uploadBatchFile(client, text),
      endpoint: '/v1/chat/completions',
      completion_window: window as '24h',
    });
    return batch.id;
  }

  /** Waits for a 2xx delivery about the batch, then long enough for any duplicate to show. */
  async function deliveries(batchId: string): Promise<ReceivedWebhook[]> {
    await waitUntil(
      () => receiver.about(batchId).some((r) => r.status === 200),
      20_000,
      `event for ${batchId}`,
    );
    await sleep(1500);
    return receiver.about(batchId);
  }

  async function outboxRows(batchId: string) {
    const { rows } = await db.query(
      'SELECT id, type, status, attempts, last_error FROM webhook_events WHERE batch_id = $1',
      [batchId],
    );
    return rows as Array<{
      id: string;
      type: string;
      status: string;
      attempts: number;
      last_error: string | null;
    }>;
  }

  /** Verifies like a user's receiver would, and returns the parsed event. */
  const unwrap = (r: ReceivedWebhook, secret: string) =>
    verifier.webhooks.unwrap(r.body, r.headers as Record<string, string>, secret);

  async function expectOneEvent(
    batchId: string,
    type: string,
    secret: string,
    timeField: keyof OpenAI.Batches.Batch,
  ) {
    const got = await deliveries(batchId);
    // One request, and only about the final status: none for validating, in_progress, finalizing, cancelling.
    expect(got).toHaveLength(1);
    const [r] = got;
    expect(r.headers['content-type']).toBe('application/json');
    const event = await unwrap(r, secret);
    const batch = await sdk[TENANT_A.tenant].batches.retrieve(batchId).catch(() => null);
    expect(event).toEqual({
      id: expect.stringMatching(/^evt_[A-Za-z0-9]+$/),
      type,
      created_at: expect.any(Number),
      data: { id: batchId },
      object: 'event',
    });
    expect(Object.keys(JSON.parse(r.body))).toEqual(['id', 'type', 'created_at', 'data', 'object']);
    expect(r.headers['webhook-id']).toBe(event.id);
    expect(r.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    if (batch) expect(event.created_at).toBe(batch[timeField]);
    expect(await outboxRows(batchId)).toEqual([
      { id: event.id, type, status: 'delivered', attempts: 1, last_error: null },
    ]);
    return { r, event };
  }

  it("completed: exactly one batch.completed, signed with the tenant's own secret, in OpenAI's shape", async () => {
    const id = await runBatch(TENANT_A.tenant, 20);
    await waitForBatch(sdk[TENANT_A.tenant], id, ['completed'], 30_000);
    const { r } = await expectOneEvent(id, 'batch.completed', SECRET_A, 'completed_at');
    expect(r.path).toBe('/a');
    // Another tenant's secret does not verify it: no tenant's receiver can forge another's events.
    await expect(unwrap(r, SECRET_DEFAULT)).rejects.toThrow(/signature/);
    // Neither does a tampered body.
    await expect(
      verifier.webhooks.unwrap(
        r.body.replace(id, 'batch_other'),
        r.headers as Record<string, string>,
        SECRET_A,
      ),
    ).rejects.toThrow(/signature/);
  });

  it('failed validation: exactly one batch.failed, signed with WEBHOOK_SECRET for an entry without a secret', async () => {
    const body = toJsonl([chatLine('ok', 'fine'), '{"custom_id": "broken", "method": "POST"']);
    const id = await runBatch(TENANT_B.tenant, 0, '24h', body);
    const batch = await waitForBatch(sdk[TENANT_B.tenant], id, ['failed'], 30_000);
    expect(batch.errors?.data?.[0]?.code).toBe('invalid_json_line');
    const got = await deliveries(id);
    expect(got).toHaveLength(1);
    expect(got[0].path).toBe('/b');
    const event = await unwrap(got[0], SECRET_DEFAULT);
    expect(event).toEqual({
      id: got[0].headers['webhook-id'],
      type: 'batch.failed',
      created_at: batch.failed_at,
      data: { id },
      object: 'event',
    });
  });

  it('cancelled: exactly one batch.cancelled (none for cancelling)', async () => {
    sim.setOptions({ stepBaseMs: 20, outputTokens: 20 });
    const id = await runBatch(TENANT_A.tenant, 200);
    const client = sdk[TENANT_A.tenant];
    await waitUntil(
      async () => (await client.batches.retrieve(id)).request_counts!.completed > 0,
      30_000,
      'progress',
    );
    expect((await client.batches.cancel(id)).status).toBe('cancelling');
    await waitForBatch(client, id, ['cancelled'], 30_000);
    await expectOneEvent(id, 'batch.cancelled', SECRET_A, 'cancelled_at');
  });

  it('expired: exactly one batch.expired', async () => {
    sim.setOptions({ stepBaseMs: 30, outputTokens: 30 });
    const id = await runBatch(TENANT_A.tenant, 300, '3s');
    const done = await waitForBatch(sdk[TENANT_A.tenant], id, ['expired', 'completed'], 30_000);
    expect(done.status).toBe('expired');
    await expectOneEvent(id, 'batch.expired', SECRET_A, 'expired_at');
  });

  it('a tenant without a webhook gets no event and no outbox row', async () => {
    const id = await runBatch(TENANT_C.tenant, 5);
    await waitForBatch(sdk[TENANT_C.tenant], id, ['completed'], 30_000);
    await sleep(1500);
    expect(receiver.about(id)).toEqual([]);
    expect(await outboxRows(id)).toEqual([]);
  });

  it('a receiver that fails 3 times then succeeds gets the event exactly once more: same webhook-id, fresh timestamps', async () => {
    const before = await metricsText();
    receiver.answerNext('/a', 500, 500, 500);
    const id = await runBatch(TENANT_A.tenant, 5);
    await waitForBatch(sdk[TENANT_A.tenant], id, ['completed'], 30_000);
    const got = await deliveries(id);
    expect(got.map((r) => r.status)).toEqual([500, 500, 500, 200]);
    const events = await Promise.all(got.map((r) => unwrap(r, SECRET_A)));
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set(events.map((e) => JSON.stringify(e))).size).toBe(1);
    expect(got.map((r) => r.body)).toEqual(Array(4).fill(got[0].body));
    // Signed afresh per attempt (attempts are ≥ 1 s apart here), so no retry is refused as stale.
    const stamps = got.map((r) => Number(r.headers['webhook-timestamp']));
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1]);
    expect(await outboxRows(id)).toEqual([
      { id: events[0].id, type: 'batch.completed', status: 'delivered', attempts: 4, last_error: null },
    ]);
    const after = await waitForMetric('delivered', metricOf(before, 'delivered') + 1);
    expect(metricOf(after, 'retried') - metricOf(before, 'retried')).toBe(3);
    expect(metricOf(after, 'dropped') - metricOf(before, 'dropped')).toBe(0);
  });

  it('drops an event after the last attempt of the schedule and counts it; then the open circuit postpones attempts', async () => {
    const before = await metricsText();
    receiver.answerAlways('/d', 503);
    const id = await runBatch(TENANT_D.tenant, 3);
    await waitForBatch(sdk[TENANT_D.tenant], id, ['completed'], 30_000);
    await waitUntil(
      async () => (await outboxRows(id))[0]?.status === 'dropped',
      30_000,
      'the event to be dropped',
    );
    expect(await outboxRows(id)).toEqual([
      expect.objectContaining({
        status: 'dropped',
        attempts: SCHEDULE.length,
        last_error: 'receiver answered HTTP 503',
      }),
    ]);
    const got = receiver.about(id);
    expect(got.map((r) => r.status)).toEqual(Array(SCHEDULE.length).fill(503));
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const after = await waitForMetric('dropped', metricOf(before, 'dropped') + 1);
    expect(metricOf(after, 'retried') - metricOf(before, 'retried')).toBe(SCHEDULE.length - 1);

    // Five failures in a row opened /d's circuit: the next event waits without spending an attempt.
    const next = await runBatch(TENANT_D.tenant, 3);
    await waitForBatch(sdk[TENANT_D.tenant], next, ['completed'], 30_000);
    await waitUntil(async () => (await outboxRows(next)).length === 1, 10_000, 'the outbox row');
    await sleep(2500);
    expect(receiver.about(next)).toEqual([]);
    expect(await outboxRows(next)).toEqual([expect.objectContaining({ status: 'pending', attempts: 0 })]);
  });

  async function metricsText(): Promise<string> {
    return (await fetch(`${app.url}/metrics`)).text();
  }
  const metricOf = (text: string, outcome: string): number =>
    metricValue(text, 'vllm_batch_webhook_deliveries_total', { outcome });
  async function waitForMetric(outcome: string, atLeast: number): Promise<string> {
    let text = '';
    await waitUntil(
      async () => metricOf((text = await metricsText()), outcome) >= atLeast,
      10_000,
      `${outcome} metric`,
    );
    return text;
  }
});
