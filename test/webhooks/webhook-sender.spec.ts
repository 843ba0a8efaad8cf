import OpenAI from 'openai';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../../src/platform/config/app-config';
import { CircuitOpen, WebhookSender } from '../../src/worker/webhooks/webhook-sender';
import { sleep } from '../support/harness';
import { testWebhookSecret, WebhookReceiver } from '../support/webhook-receiver';

const SECRET = testWebhookSecret('sender-spec-secret');
const EVENT = {
  id: 'evt_sender0000000000000001',
  payload:
    '{"id":"evt_sender0000000000000001","type":"batch.completed","created_at":1,"data":{"id":"batch_x"},"object":"event"}',
};

/** One attempt against a real local receiver: signing, outcomes, and the per-URL circuit breaker. */
describe('WebhookSender', () => {
  let receiver: WebhookReceiver;
  const sender = (halfOpenAfterMs = 300) =>
    new WebhookSender(loadConfig({ WEBHOOK_TIMEOUT_MS: '500' }), { failures: 2, halfOpenAfterMs });

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
  });
  afterAll(() => receiver.close());

  it('signs each attempt per Standard Webhooks, verifiable with the secret', async () => {
    const result = await sender().send({ url: receiver.url('/ok'), secrets: [SECRET] }, EVENT);
    expect(result).toEqual({ ok: true, status: 200 });
    const [r] = receiver.received.filter((x) => x.path === '/ok');
    expect(r.body).toBe(EVENT.payload);
    expect(r.headers['webhook-id']).toBe(EVENT.id);
    expect(new Webhook(SECRET).verify(r.body, r.headers as Record<string, string>)).toEqual(
      JSON.parse(EVENT.payload),
    );
  });

  it('signs with every valid secret at once (a rotation): each verifies alone, with standardwebhooks and the SDK', async () => {
    const previous = testWebhookSecret('sender-spec-ancien-秘密');
    const other = testWebhookSecret('sender-spec-someone-else');
    const result = await sender().send(
      { url: receiver.url('/rotated/événements'), secrets: [SECRET, previous] },
      EVENT,
    );
    expect(result).toEqual({ ok: true, status: 200 });
    const [r] = receiver.received.filter((x) => x.path === '/rotated/%C3%A9v%C3%A9nements');
    expect(r.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=* v1,[A-Za-z0-9+/]+=*$/);
    const headers = r.headers as Record<string, string>;
    const sdk = new OpenAI({ apiKey: 'unused' });
    for (const secret of [SECRET, previous]) {
      expect(new Webhook(secret).verify(r.body, headers)).toEqual(JSON.parse(EVENT.payload));
      await expect(sdk.webhooks.unwrap(r.body, headers, secret)).resolves.toEqual(JSON.parse(EVENT.payload));
    }
    expect(() => new Webhook(other).verify(r.body, headers)).toThrow(/signature/);
    await expect(sdk.webhooks.unwrap(r.body, headers, other)).rejects.toThrow(/signature/);
  });

  it('fails an attempt on a non-2xx answer, a redirect and a refused connection, saying why without the URL', async () => {
    receiver.answerNext('/fail?token=hidden', 500);
    receiver.answerNext('/fail', 302);
    const s = sender();
    const endpoint = { url: receiver.url('/fail?token=hidden'), secrets: [SECRET] };
    expect(await s.send(endpoint, EVENT)).toEqual({ ok: false, error: 'receiver answered HTTP 500' });
    expect(await s.send({ ...endpoint, url: receiver.url('/fail') }, EVENT)).toEqual({
      ok: false,
      error: 'receiver answered HTTP 302',
    });
    const closed = await WebhookReceiver.start();
    const url = closed.url('/gone?token=hidden');
    await closed.close();
    const refused = await s.send({ url, secrets: [SECRET] }, EVENT);
    expect(refused).toEqual({ ok: false, error: 'connection failed: ECONNREFUSED' });
  });

  it('opens the circuit of a URL after consecutive failures, then lets one probe through', async () => {
    receiver.answerNext('/flaky', 503, 503);
    const s = sender();
    const endpoint = { url: receiver.url('/flaky'), secrets: [SECRET] };
    expect(await s.send(endpoint, EVENT)).toMatchObject({ ok: false });
    expect(await s.send(endpoint, EVENT)).toMatchObject({ ok: false });
    const count = () => receiver.received.filter((x) => x.path === '/flaky').length;
    // Open: refused without a request, so the caller postpones instead of spending an attempt.
    await expect(s.send(endpoint, EVENT)).rejects.toBeInstanceOf(CircuitOpen);
    expect(count()).toBe(2);
    // Other URLs are not affected.
    expect(await s.send({ url: receiver.url('/ok'), secrets: [SECRET] }, EVENT)).toMatchObject({ ok: true });
    await sleep(400);
    expect(await s.send(endpoint, EVENT)).toEqual({ ok: true, status: 200 });
    expect(count()).toBe(3);
  });
});
