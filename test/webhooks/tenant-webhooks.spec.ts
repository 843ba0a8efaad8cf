import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ApiError } from '../../src/common/api-error';
import { Clock } from '../../src/common/clock';
import { checkWebhookSecret, loadConfig } from '../../src/platform/config/app-config';
import { dataSourceOptions, runMigrations } from '../../src/platform/database/data-source';
import { SecretBox } from '../../src/platform/secrets/secret-box';
import { TenantWebhooksRepository } from '../../src/domain/webhooks/tenant-webhooks.repository';
import { TenantWebhooksService } from '../../src/domain/webhooks/tenant-webhooks.service';
import {
  WebhookEndpoints,
  WebhookSecretUnreadable,
} from '../../src/domain/webhooks/webhook-endpoints.service';
import { createTestEnv, TestEnv, until } from '../support/harness';
import { testWebhookSecret } from '../support/webhook-receiver';

/** A clock the test moves, so the grace period passes without waiting for it. */
class TestClock extends Clock {
  at = new Date('2026-03-01T12:00:00Z');
  override now(): Date {
    return new Date(this.at);
  }
  advance(seconds: number): void {
    this.at = new Date(this.at.getTime() + seconds * 1000);
  }
}

const GRACE = 3600;
const ENV_SECRET = testWebhookSecret('env-secret-de-l’équipe');
const ENV_URL = 'https://hooks.example.com/équipe/事件';

/**
 * Tenants' webhook endpoints set at runtime, against the real PostgreSQL: what the admin API's
 * calls store, what deliveries then read (URL and every valid secret), and that the database never
 * holds a secret in clear. Two DataSources with their own service instances stand for two processes.
 */
describe('TenantWebhooksService + WebhookEndpoints (real PostgreSQL)', () => {
  let env: TestEnv;
  let one: DataSource;
  let two: DataSource;
  const key = randomBytes(32);
  let seq = 0;
  /** A fresh tenant id per test (ids are ASCII by rule; text elsewhere is not). */
  const tenant = (): string => `tenant.wh-${++seq}`;

  function wire(
    ds: DataSource,
    opts: { key?: Buffer | null; clock?: TestClock; envTenant?: string; grace?: number } = {},
  ) {
    const config = loadConfig({
      WEBHOOK_SECRET_ROTATION_GRACE_SECONDS: String(opts.grace ?? GRACE),
      ...(opts.envTenant
        ? { WEBHOOKS: JSON.stringify({ [opts.envTenant]: { url: ENV_URL, secret: ENV_SECRET } }) }
        : {}),
    });
    const clock = opts.clock ?? new TestClock();
    const box = opts.key === null ? null : new SecretBox(opts.key ?? key);
    const rows = new TenantWebhooksRepository(ds);
    const endpoints = new WebhookEndpoints(config, box, rows, clock);
    const service = new TenantWebhooksService(rows, endpoints, box, config, ds, clock);
    return { service, endpoints, clock };
  }

  async function storedRow(tenantId: string): Promise<Record<string, unknown> | undefined> {
    const rows: Record<string, unknown>[] = await one.query(
      'SELECT * FROM tenant_webhooks WHERE tenant_id = $1',
      [tenantId],
    );
    return rows[0];
  }

  /** No column of any row holds a secret, whole or its base64 body. */
  async function expectNoClearSecret(...secrets: string[]): Promise<void> {
    const dump = JSON.stringify(await one.query('SELECT * FROM tenant_webhooks'));
    for (const s of secrets) {
      expect(dump).not.toContain(s.slice('whsec_'.length));
      expect(dump).not.toContain(Buffer.from(s.slice('whsec_'.length), 'base64').toString('hex'));
    }
  }

  beforeAll(async () => {
    env = await createTestEnv();
    await runMigrations(env.databaseUrl);
    one = await new DataSource(dataSourceOptions(env.databaseUrl, 4)).initialize();
    two = await new DataSource(dataSourceOptions(env.databaseUrl, 4)).initialize();
  });

  afterAll(async () => {
    await one?.destroy();
    await two?.destroy();
    await env?.dispose();
  });

  it('set: a fresh Standard Webhooks secret shown once, stored sealed, used at once for deliveries', async () => {
    const { service, endpoints, clock } = wire(one);
    const id = tenant();
    const url = 'https://récepteur.example.org/hooks/批次?token=ü';
    expect(await endpoints.forTenant(id)).toBeNull();

    const got = await service.set(id, url);
    expect(got).toEqual({
      url,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
      previousSecretExpiresAt: null,
    });
    expect(() => checkWebhookSecret(got.secret, 'generated')).not.toThrow();
    expect(Buffer.from(got.secret.slice(6), 'base64')).toHaveLength(32);
    expect((await service.set(id, url)).secret).not.toBe(got.secret);
    const again = await service.set(tenant(), url);
    expect(again.secret).not.toBe(got.secret);

    const row = await storedRow(id);
    expect(row).toMatchObject({ url, previous_secret_enc: expect.stringMatching(/^v1\./) });
    expect(row!.secret_enc).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    await expectNoClearSecret(got.secret, again.secret);

    expect(await service.describe(id)).toEqual({
      url,
      secretRotatedAt: clock.now(),
      previousSecretExpiresAt: new Date(clock.now().getTime() + GRACE * 1000),
      source: 'database',
    });
    expect(await endpoints.has(id)).toBe(true);
  });

  it('rotation: the replaced secret keeps signing until the grace ends, then only the new one', async () => {
    const { service, endpoints, clock } = wire(one);
    const id = tenant();
    const url = 'http://127.0.0.1:9/réception';
    const first = await service.set(id, url);
    expect(await endpoints.forTenant(id)).toEqual({ url, secrets: [first.secret] });

    clock.advance(10);
    const second = await service.set(id, url);
    const expires = new Date(clock.now().getTime() + GRACE * 1000);
    expect(second.previousSecretExpiresAt).toEqual(expires);
    expect(await endpoints.forTenant(id)).toEqual({ url, secrets: [second.secret, first.secret] });
    expect(await service.describe(id)).toMatchObject({
      secretRotatedAt: clock.now(),
      previousSecretExpiresAt: expires,
    });

    // A third secret within the grace: the one it replaces keeps signing, the first one stops.
    clock.advance(60);
    const third = await service.set(id, url);
    expect(await endpoints.forTenant(id)).toEqual({ url, secrets: [third.secret, second.secret] });

    clock.advance(GRACE);
    expect(await endpoints.forTenant(id)).toEqual({ url, secrets: [third.secret] });
    expect(await service.describe(id)).toMatchObject({ previousSecretExpiresAt: null });
    await expectNoClearSecret(first.secret, second.secret, third.secret);
  });

  it('with no grace configured, the replaced secret stops at once', async () => {
    const { service, endpoints } = wire(one, { grace: 0 });
    const id = tenant();
    await service.set(id, 'https://example.com/a');
    const second = await service.set(id, 'https://example.com/b');
    expect(second.previousSecretExpiresAt).toBeNull();
    expect(await endpoints.forTenant(id)).toEqual({ url: 'https://example.com/b', secrets: [second.secret] });
  });

  it('a WEBHOOKS tenant: described as such; set overrides it, its secret signing through the grace; remove silences it', async () => {
    const id = tenant();
    const { service, endpoints, clock } = wire(one, { envTenant: id });
    expect(await service.describe(id)).toEqual({
      url: ENV_URL,
      secretRotatedAt: null,
      previousSecretExpiresAt: null,
      source: 'environment',
    });
    expect(await endpoints.forTenant(id)).toEqual({ url: ENV_URL, secrets: [ENV_SECRET] });

    const set = await service.set(id, 'https://nouveau.example.com/ç');
    expect(set.previousSecretExpiresAt).toEqual(new Date(clock.now().getTime() + GRACE * 1000));
    expect(await endpoints.forTenant(id)).toEqual({
      url: 'https://nouveau.example.com/ç',
      secrets: [set.secret, ENV_SECRET],
    });
    await expectNoClearSecret(set.secret, ENV_SECRET);

    expect(await service.remove(id)).toBe(true);
    expect(await endpoints.forTenant(id)).toBeNull();
    expect(await endpoints.has(id)).toBe(false);
    expect(await service.describe(id)).toBeNull();
    // The row stays, empty, so the WEBHOOKS entry does not come back.
    expect(await storedRow(id)).toMatchObject({ url: null, secret_enc: null, previous_secret_enc: null });
    expect(await service.remove(id)).toBe(false);

    // Set again after a removal: nothing was signing, so nothing keeps signing.
    const back = await service.set(id, ENV_URL);
    expect(back.previousSecretExpiresAt).toBeNull();
    expect(await endpoints.forTenant(id)).toEqual({ url: ENV_URL, secrets: [back.secret] });
  });

  it('a WEBHOOKS tenant removed without ever being set through the API gets no more events', async () => {
    const id = tenant();
    const { service, endpoints } = wire(one, { envTenant: id });
    expect(await service.remove(id)).toBe(true);
    expect(await endpoints.has(id)).toBe(false);
    expect(await service.describe(id)).toBeNull();
  });

  it('remove: a tenant set only through the API loses its row; removing nothing says so', async () => {
    const { service, endpoints } = wire(one);
    const id = tenant();
    expect(await service.remove(id)).toBe(false);
    await service.set(id, 'https://example.com/ø');
    expect(await service.remove(id)).toBe(true);
    expect(await storedRow(id)).toBeUndefined();
    expect(await endpoints.forTenant(id)).toBeNull();
    expect(await service.describe(id)).toBeNull();
    expect(await service.remove(id)).toBe(false);
  });

  it('refuses to store a secret without SECRETS_ENCRYPTION_KEY, saying why and what to set', async () => {
    const { service } = wire(one, { key: null });
    const id = tenant();
    const err = await service.set(id, 'https://example.com/h').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 400,
      code: 'secrets_encryption_key_missing',
      type: 'invalid_request_error',
    });
    expect((err as Error).message).toMatch(
      /stored encrypted.*no SECRETS_ENCRYPTION_KEY.*Set SECRETS_ENCRYPTION_KEY/s,
    );
    expect(await storedRow(id)).toBeUndefined();
  });

  it('refuses a URL that is not http(s), by the rule WEBHOOKS applies', async () => {
    const { service } = wire(one);
    const id = tenant();
    for (const url of [
      'ftp://example.com/h',
      'not a url',
      'javascript:alert(1)',
      '/relative/événements',
      '',
    ]) {
      const err = await service.set(id, url).catch((e: unknown) => e);
      expect({ url, err }).toEqual({
        url,
        err: expect.objectContaining({
          status: 400,
          code: 'invalid_url',
          param: 'url',
          message: 'url must be an http:// or https:// URL',
        }),
      });
    }
    expect(await storedRow(id)).toBeUndefined();
  });

  it("writes in the caller's transaction: rolled back, nothing changed", async () => {
    const { service, endpoints } = wire(one);
    const id = tenant();
    const kept = await service.set(id, 'https://example.com/kept');
    await expect(
      one.transaction(async (m) => {
        await service.set(id, 'https://example.com/rolled-back', m);
        await service.remove(tenant(), m);
        throw new Error('the audit row failed');
      }),
    ).rejects.toThrow('the audit row failed');
    expect(await endpoints.forTenant(id)).toEqual({
      url: 'https://example.com/kept',
      secrets: [kept.secret],
    });
    await one.transaction(async (m) => expect(await service.remove(id, m)).toBe(true));
    expect(await storedRow(id)).toBeUndefined();
  });

  it('a stored secret that cannot be read fails loudly, naming the cause, never the secret', async () => {
    const id = tenant();
    const { service } = wire(one);
    const { secret } = await service.set(id, 'https://example.com/h');
    for (const other of [wire(one, { key: null }), wire(one, { key: randomBytes(32) })]) {
      const err = await other.endpoints.forTenant(id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WebhookSecretUnreadable);
      expect((err as Error).message).toMatch(/SECRETS_ENCRYPTION_KEY/);
      expect((err as Error).message).not.toContain(secret.slice(6));
      // Whether to write events needs no secret.
      expect(await other.endpoints.has(id)).toBe(true);
    }
  });

  it("a sealed secret copied into another tenant's row does not open there", async () => {
    const { service, endpoints } = wire(one);
    const [victim, attacker] = [tenant(), tenant()];
    await service.set(victim, 'https://victim.example.com/h');
    await service.set(attacker, 'https://attacker.example.com/h');
    await one.query(
      `UPDATE tenant_webhooks SET secret_enc = (SELECT secret_enc FROM tenant_webhooks WHERE tenant_id = $1)
        WHERE tenant_id = $2`,
      [victim, attacker],
    );
    endpoints.forget(attacker);
    await expect(endpoints.forTenant(attacker)).rejects.toThrow(WebhookSecretUnreadable);
  });

  it("another process's change reaches deliveries without a restart", async () => {
    const api = wire(one);
    const worker = wire(two);
    const id = tenant();
    expect(await worker.endpoints.forTenant(id)).toBeNull();
    const { secret } = await api.service.set(id, 'https://example.com/à-jour');
    await until(
      async () => (await worker.endpoints.forTenant(id))?.secrets[0] === secret,
      10_000,
      'the new endpoint',
    );
    await api.service.remove(id);
    await until(async () => (await worker.endpoints.forTenant(id)) === null, 10_000, 'the removal');
    expect(await worker.endpoints.has(id)).toBe(false);
  });

  it('two rotations at once from two processes: one secret is current, the other still signs', async () => {
    const id = tenant();
    const a = wire(one);
    const b = wire(two);
    await a.service.set(id, 'https://example.com/r');
    const [x, y] = await Promise.all([
      a.service.set(id, 'https://example.com/r'),
      b.service.set(id, 'https://example.com/r'),
    ]);
    const { secrets } = (await wire(one).endpoints.forTenant(id))!;
    expect(new Set(secrets)).toEqual(new Set([x.secret, y.secret]));
  });
});
