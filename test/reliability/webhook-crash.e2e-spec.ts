import OpenAI from 'openai';
import { Client } from 'pg';
import { PrivateRedis, ServiceProcess, sleep, startService, TENANT_A, until } from '../support/harness';
import { report, submitBatch, useProcesses } from '../support/reliability';
import { testWebhookSecret, WebhookReceiver } from '../support/webhook-receiver';

const SECRET = testWebhookSecret('crash-test-secret');
/** The first attempt waits this long after the event, so the worker can be killed before it. */
const FIRST_ATTEMPT_S = 5;

/**
 * A batch's webhook event outlives the worker that ended the batch. The event is written to
 * PostgreSQL with the transition; the worker is SIGKILLed as soon as the batch is completed, before
 * the first attempt is due. A new worker delivers it exactly once: from the delayed job Redis still
 * holds, or, when Redis lost everything meanwhile (restarted empty), from the outbox's sweep.
 */
describe('Reliability: webhook delivery after a worker crash', () => {
  let redis: PrivateRedis;
  let receiver: WebhookReceiver;
  let db: Client;
  const verifier = new OpenAI({ apiKey: 'unused' });

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    receiver = await WebhookReceiver.start();
  });

  // Before the environment's teardown, whose DROP DATABASE would cut this connection.
  afterAll(async () => {
    await db?.end();
  });

  const { env, client } = useProcesses({
    simulator: { SIM_STEP_BASE_MS: '2', SIM_STEP_PER_SEQ_MS: '0', SIM_OUTPUT_TOKENS: '4' },
    env: () => ({
      REDIS_URL: redis.url,
      WEBHOOKS: JSON.stringify({ [TENANT_A.tenant]: { url: receiver.url('/hook'), secret: SECRET } }),
      WEBHOOK_RETRY_SCHEDULE: `${FIRST_ATTEMPT_S},1,1`,
      RECONCILE_INTERVAL_MS: '1000',
    }),
    api: 'api',
  });

  beforeAll(async () => {
    db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await redis?.kill();
    await receiver?.close();
  });

  async function completeThenKill(worker: ServiceProcess): Promise<string> {
    const id = await submitBatch(client, 10);
    await until(
      async () => (await client.batches.retrieve(id)).status === 'completed',
      60_000,
      'completed',
      20,
    );
    worker.proc.kill('SIGKILL');
    await worker.proc.exited;
    return id;
  }

  async function expectDeliveredOnce(id: string): Promise<void> {
    await until(() => receiver.about(id).length > 0, 60_000, `the event of ${id}`);
    // Longer than the retry interval: a second delivery would show by now.
    await sleep(3000);
    const got = receiver.about(id);
    expect(got.map((r) => r.status)).toEqual([200]);
    const event = await verifier.webhooks.unwrap(
      got[0].body,
      got[0].headers as Record<string, string>,
      SECRET,
    );
    expect(event).toEqual({
      id: got[0].headers['webhook-id'],
      type: 'batch.completed',
      created_at: (await client.batches.retrieve(id)).completed_at,
      data: { id },
      object: 'event',
    });
    const { rows } = await db.query('SELECT status, attempts FROM webhook_events WHERE batch_id = $1', [id]);
    expect(rows).toEqual([{ status: 'delivered', attempts: 1 }]);
  }

  it('SIGKILL right after the batch completes: a new worker delivers the event exactly once', async () => {
    const id = await completeThenKill(await startService('worker', env.env, 'worker-1'));
    expect(receiver.about(id)).toEqual([]);
    const killedAt = Date.now();
    const next = await startService('worker', env.env, 'worker-2');
    await expectDeliveredOnce(id);
    report('webhook after worker SIGKILL', { secondsToDelivery: (Date.now() - killedAt) / 1000 });
    await next.proc.stop();
  }, 120_000);

  it('SIGKILL, and Redis restarted empty before a new worker starts: the outbox still delivers it exactly once', async () => {
    const id = await completeThenKill(await startService('worker', env.env, 'worker-3'));
    expect(receiver.about(id)).toEqual([]);
    await redis.restart();
    // The delayed attempt is gone with Redis's data: only PostgreSQL still knows the event.
    expect(redis.dbsize()).toBe(0);
    const killedAt = Date.now();
    const next = await startService('worker', env.env, 'worker-4');
    await expectDeliveredOnce(id);
    expect(next.proc.output()).toContain('enqueued 1 due webhook event(s) that had no job');
    report('webhook after worker SIGKILL and Redis loss', {
      secondsToDelivery: (Date.now() - killedAt) / 1000,
    });
    await next.proc.stop();
  }, 120_000);
});
