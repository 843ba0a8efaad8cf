import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { Client } from 'pg';
import { TenantWebhooksService } from '../../src/domain/webhooks/tenant-webhooks.service';
import { fixedInflight, RELAXED_LIMITS, useApp } from '../support/app-fixture';
import { chatLine, toJsonl, uploadBatchFile, waitForBatch, waitUntil } from '../support/batch-helpers';
import { sdkClient, sleep, TENANT_A, TENANT_B } from '../support/harness';
import { ReceivedWebhook, testWebhookSecret, WebhookReceiver } from '../support/webhook-receiver';

const GRACE_SECONDS = 8;
const SCHEDULE = [0, 3, 3];
const ENV_SECRET_B = testWebhookSecret('tenant-b-secret-de-l’env');

/**
 * Webhook endpoints set at runtime (what PUT/DELETE /admin/api/tenants/{id}/webhook call), end to
 * end: the whole app in-process against the simulator, a real receiver, the official SDK's
 * `webhooks.unwrap()` as the user's verifier. No restart anywhere: each change is made through the
 * service and the next batch's event follows it.
 */
describe('Tenant webhooks set at runtime (delivery, rotation, removal)', () => {
  let receiver: WebhookReceiver;
  let db: Client;
  let webhooks: TenantWebhooksService;
  const sdk: Record<string, OpenAI> = {};
  const verifier = new OpenAI({ apiKey: 'unused' });

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    await db?.end();
  });

  const { env, app } = useApp({
    simulator: { stepBaseMs: 2, stepPerSeqMs: 0.01, outputTokens: 4 },
    env: () => ({
      SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      WEBHOOK_SECRET_ROTATION_GRACE_SECONDS: String(GRACE_SECONDS),
      WEBHOOKS: JSON.stringify({ [TENANT_B.tenant]: { url: receiver.url('/env-b'), secret: ENV_SECRET_B } }),
      WEBHOOK_RETRY_SCHEDULE: SCHEDULE.join(','),
      WEBHOOK_TIMEOUT_MS: '2000',
      ...fixedInflight(8),
      RECONCILE_INTERVAL_MS: '1000',
      ...RELAXED_LIMITS,
    }),
  });

  beforeAll(async () => {
    for (const t of [TENANT_A, TENANT_B]) sdk[t.tenant] = sdkClient(app.url, t.key);
    webhooks = app.app.get(TenantWebhooksService, { strict: false });
    db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await receiver?.close();
  });

  async function runBatch(tenant: string): Promise<string> {
    const client = sdk[tenant];
    const text = toJsonl([chatLine('première', 'Bonjour, ça va ?'), chatLine('第二', '你好，世界 🌍')]);
    const batch = await client.batches.create({
      input_file_id: await uploadBatchFile(client, text),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await waitForBatch(client, batch.id, ['completed'], 30_000);
    return batch.id;
  }

  async function delivered(batchId: string): Promise<ReceivedWebhook> {
    await waitUntil(
      () => receiver.about(batchId).some((r) => r.status === 200),
      20_000,
      `event for ${batchId}`,
    );
    const got = receiver.about(batchId);
    expect(got.map((r) => r.status)).toEqual([200]);
    return got[0];
  }

  const unwrap = (r: ReceivedWebhook, secret: string) =>
    verifier.webhooks.unwrap(r.body, r.headers as Record<string, string>, secret);
  const signatures = (r: ReceivedWebhook): string[] => String(r.headers['webhook-signature']).split(' ');

  async function outboxRows(batchId: string) {
    const { rows } = await db.query(
      'SELECT status, attempts, last_error FROM webhook_events WHERE batch_id = $1',
      [batchId],
    );
    return rows as Array<{ status: string; attempts: number; last_error: string | null }>;
  }

  /** The stored rows, as text: no secret may appear in them. */
  async function storedText(): Promise<string> {
    return JSON.stringify((await db.query('SELECT * FROM tenant_webhooks')).rows);
  }

  it('set, rotate, grace over: each event verifies with the secrets valid when it was sent', async () => {
    const path = '/a/événements/批次';
    const url = receiver.url(path);
    const first = await webhooks.set(TENANT_A.tenant, url);

    const one = await delivered(await runBatch(TENANT_A.tenant));
    expect(one.path).toBe(encodeURI(path));
    expect(signatures(one)).toHaveLength(1);
    expect(await unwrap(one, first.secret)).toMatchObject({ type: 'batch.completed', object: 'event' });

    // Rotation: for the grace period each event carries both signatures; either secret verifies it.
    const second = await webhooks.set(TENANT_A.tenant, url);
    expect(second.secret).not.toBe(first.secret);
    expect(second.previousSecretExpiresAt!.getTime()).toBeGreaterThan(Date.now());
    const two = await delivered(await runBatch(TENANT_A.tenant));
    expect(signatures(two)).toHaveLength(2);
    const event = await unwrap(two, second.secret);
    expect(await unwrap(two, first.secret)).toEqual(event);
    await expect(unwrap(two, testWebhookSecret('nobody'))).rejects.toThrow(/signature/);

    // After the grace: only the new secret.
    await waitUntil(
      () => Date.now() > second.previousSecretExpiresAt!.getTime() + 500,
      30_000,
      'the grace to end',
    );
    expect(await webhooks.describe(TENANT_A.tenant)).toMatchObject({ url, previousSecretExpiresAt: null });
    const three = await delivered(await runBatch(TENANT_A.tenant));
    expect(signatures(three)).toHaveLength(1);
    await unwrap(three, second.secret);
    await expect(unwrap(three, first.secret)).rejects.toThrow(/signature/);

    const stored = await storedText();
    expect(stored).toContain(TENANT_A.tenant);
    for (const s of [first.secret, second.secret]) expect(stored).not.toContain(s.slice('whsec_'.length));
  });

  it('overrides a WEBHOOKS entry at once; removed, the tenant gets no event and no outbox row', async () => {
    const before = await delivered(await runBatch(TENANT_B.tenant));
    expect(before.path).toBe('/env-b');
    await unwrap(before, ENV_SECRET_B);

    const { secret } = await webhooks.set(TENANT_B.tenant, receiver.url('/b/ñandú'));
    const moved = await delivered(await runBatch(TENANT_B.tenant));
    expect(moved.path).toBe(encodeURI('/b/ñandú'));
    // The environment's secret was signing until now: it keeps signing through the grace.
    await unwrap(moved, secret);
    await unwrap(moved, ENV_SECRET_B);
    expect(await storedText()).not.toContain(ENV_SECRET_B.slice('whsec_'.length));

    expect(await webhooks.remove(TENANT_B.tenant)).toBe(true);
    const silent = await runBatch(TENANT_B.tenant);
    await sleep(1500);
    expect(receiver.about(silent)).toEqual([]);
    expect(await outboxRows(silent)).toEqual([]);
    expect(await webhooks.describe(TENANT_B.tenant)).toBeNull();
  });

  it('an event waiting for its retry when the endpoint is removed is dropped, not sent', async () => {
    const path = '/a/flaky-ü';
    await webhooks.set(TENANT_A.tenant, receiver.url(path));
    receiver.answerAlways(encodeURI(path), 500);
    const id = await runBatch(TENANT_A.tenant);
    await waitUntil(
      async () => (await outboxRows(id))[0]?.attempts === 1,
      20_000,
      'the first failed attempt',
    );
    expect(await webhooks.remove(TENANT_A.tenant)).toBe(true);
    await waitUntil(
      async () => (await outboxRows(id))[0]?.status === 'dropped',
      20_000,
      'the event to be dropped',
    );
    expect(await outboxRows(id)).toEqual([
      { status: 'dropped', attempts: 2, last_error: 'no webhook is configured for the tenant any more' },
    ]);
    expect(receiver.about(id).map((r) => r.status)).toEqual([500]);
    receiver.answerAlways(encodeURI(path), null);
  });
});
