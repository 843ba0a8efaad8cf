import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { Client } from 'pg';
import { chatLine, toJsonl, uploadBatchFile, waitForBatch } from '../support/batch-helpers';
import { fixedInflight, RELAXED_LIMITS, useApp } from '../support/app-fixture';
import { authHeader, sdkClient, TENANT_A, TENANT_B, until } from '../support/harness';
import { startApp, TestApp } from '../support/test-app';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * The admin API (issue #15) end to end: tenants and keys as data, changed at runtime, with the
 * official SDK as the client of the keys it makes, and the audit trail of every change.
 */
const ADMIN = { user: 'ops', password: 'board-pass-9f2c' };
// A second admin, with a multi-byte name: the audit trail must say it was them.
const SECOND = { user: 'zoë', password: 'second-pass-7c1e' };
const TENANT_C = { tenant: 'tenant-c', key: 'sk-test-tenant-c-0003' };
const KEY_NAME = 'clé de test ✓';

const basic = (who: { user: string; password: string }): Record<string, string> => ({
  Authorization: `Basic ${Buffer.from(`${who.user}:${who.password}`).toString('base64')}`,
});

interface Envelope {
  error: { message: string; type: string; param: string | null; code: string | null };
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** Whether the client's key lists its files (a key refused throws). */
const lists = async (client: OpenAI): Promise<boolean> => Array.isArray((await client.files.list()).data);

describe('admin API on ADMIN_PORT', () => {
  const { env, app, sim, a } = useApp({
    simulator: { stepBaseMs: 1, outputTokens: 4 },
    env: {
      APP_ROLE: 'all',
      ADMIN_USER: ADMIN.user,
      ADMIN_PASSWORD: ADMIN.password,
      ADMIN_USERS: `${SECOND.user}:${SECOND.password}`,
      API_KEYS: [TENANT_A, TENANT_B, TENANT_C].map((t) => `${t.tenant}:${t.key}`).join(','),
      THROTTLE_TIERS: 'pro=5',
      ...RELAXED_LIMITS,
      ...fixedInflight(16),
    },
  });

  /** One admin API call; `as` picks the admin (or other headers), `raw` sends the body as is. */
  async function admin(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = basic(ADMIN),
  ): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${app.adminUrl}/admin/api${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  const createKey = async (tenant: string, extra: Record<string, unknown> = {}): Promise<Json> => {
    const res = await admin('POST', '/keys', { tenant, name: KEY_NAME, ...extra });
    expect(res.status).toBe(201);
    return res.body;
  };

  const sdkError = async (p: Promise<unknown>): Promise<number> =>
    p.then(
      () => 200,
      (e: unknown) => (e instanceof OpenAI.APIError ? (e.status ?? 0) : Promise.reject(e)),
    );

  describe('its gate', () => {
    it('answers 401 without credentials or with wrong ones, in the envelope', async () => {
      for (const headers of [
        {},
        basic({ user: ADMIN.user, password: 'wrong' }),
        basic({ user: SECOND.user, password: ADMIN.password }),
        authHeader(TENANT_A.key),
      ]) {
        const res = await admin('GET', '/tenants', undefined, headers);
        expect(res.status).toBe(401);
        expect((res.body as Envelope).error.code).toBe('invalid_credentials');
      }
    });

    it('refuses a cross-site POST (403) and changes nothing', async () => {
      const res = await admin(
        'POST',
        '/tenants',
        { id: 'cross-site' },
        { ...basic(ADMIN), Origin: 'https://evil.example', 'Sec-Fetch-Site': 'cross-site' },
      );
      expect(res.status).toBe(403);
      expect((res.body as Envelope).error.code).toBe('cross_site_request');
      expect((await admin('GET', '/tenants/cross-site')).status).toBe(404);
    });

    it('lets the second admin user in, and the audit trail names them', async () => {
      const res = await admin('POST', '/tenants', { id: 'by-zoe' }, basic(SECOND));
      expect(res.status).toBe(201);
      const audit = await admin('GET', '/audit?tenant=by-zoe');
      expect(audit.body.data).toEqual([
        expect.objectContaining({
          object: 'audit_entry',
          actor: SECOND.user,
          action: 'tenant.create',
          target: 'by-zoe',
          address: expect.stringMatching(/127\.0\.0\.1/),
        }),
      ]);
    });

    it('is absent from the public port (404), credentials or not', async () => {
      for (const path of ['/admin/api/tenants', '/admin/api/keys', '/admin/docs', '/admin/docs-json']) {
        for (const method of ['GET', 'POST']) {
          const res = await fetch(`${app.url}${path}`, { method, headers: basic(ADMIN) });
          expect({ path, method, status: res.status }).toEqual({ path, method, status: 404 });
          expect(((await res.json()) as Envelope).error.message).toMatch(/^Invalid URL/);
        }
      }
      // The public API document does not list the admin routes either.
      const publicDoc = (await (await fetch(`${app.url}/docs-json`)).json()) as Json;
      expect(Object.keys(publicDoc.paths).filter((p) => p.startsWith('/admin'))).toEqual([]);
    });

    it('documents itself at /admin/docs (tag "admin", HTTP Basic), behind the same gate', async () => {
      expect((await fetch(`${app.adminUrl}/admin/docs`)).status).toBe(401);
      const page = await fetch(`${app.adminUrl}/admin/docs`, { headers: basic(ADMIN) });
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/swagger-ui/i);
      const doc = (await (
        await fetch(`${app.adminUrl}/admin/docs-json`, { headers: basic(ADMIN) })
      ).json()) as Json;
      expect(doc.components.securitySchemes.admin).toMatchObject({ type: 'http', scheme: 'basic' });
      expect(Object.keys(doc.paths).sort()).toEqual([
        '/admin/api/audit',
        '/admin/api/keys',
        '/admin/api/keys/{id}',
        '/admin/api/tenants',
        '/admin/api/tenants/{id}',
        '/admin/api/tenants/{id}/enable',
        '/admin/api/tenants/{id}/webhook',
        '/admin/api/usage',
      ]);
      for (const ops of Object.values(doc.paths) as Json[])
        for (const op of Object.values(ops) as Json[]) {
          expect(op.tags).toEqual(['admin']);
          expect(op.security).toEqual([{ admin: [] }]);
        }
    });
  });

  describe('validation', () => {
    it("answers 400 in OpenAI's envelope for bad ids, unknown fields, unknown tiers and bad limits", async () => {
      const cases: [unknown, string | null, string][] = [
        [{}, 'id', 'missing_required_parameter'],
        [{ id: 'has space' }, 'id', 'invalid_value'],
        [{ id: 'é-tenant' }, 'id', 'invalid_value'],
        [{ id: 'x'.repeat(65) }, 'id', 'invalid_value'],
        [{ id: 'ok-1', colour: 'blue' }, 'colour', 'unknown_parameter'],
        [{ id: 'ok-1', limits: { max_active_batchs: 1 } }, 'limits.max_active_batchs', 'unknown_parameter'],
        [{ id: 'ok-1', tier: 'platinum' }, 'tier', 'invalid_value'],
        [{ id: 'ok-1', limits: { max_active_batches: -1 } }, 'limits.max_active_batches', 'invalid_value'],
        [
          { id: 'ok-1', limits: { enqueued_token_limit: 1.5 } },
          'limits.enqueued_token_limit',
          'invalid_value',
        ],
        [
          { id: 'ok-1', limits: { rate_limit_multiplier: 0 } },
          'limits.rate_limit_multiplier',
          'invalid_value',
        ],
        [{ id: 'ok-1', limits: { max_active_batches: '2' } }, 'limits.max_active_batches', 'invalid_value'],
        // Malformed JSON, as the public API answers it.
        ['{"id": "ok-1",', null, 'invalid_request'],
      ];
      for (const [body, param, code] of cases) {
        const res = await admin('POST', '/tenants', body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect({ body, error: res.body.error }).toEqual({
          body,
          error: { message: expect.any(String), type: 'invalid_request_error', param, code },
        });
      }
      expect((await admin('GET', '/tenants/ok-1')).status).toBe(404);
    });

    it('answers 404 for unknown tenants and keys, 409 for a duplicate tenant or a key of a disabled one', async () => {
      for (const [method, path, body] of [
        ['GET', '/tenants/nobody'],
        ['PATCH', '/tenants/nobody', { tier: 'pro' }],
        ['DELETE', '/tenants/nobody'],
        ['POST', '/tenants/nobody/enable'],
        ['POST', '/keys', { tenant: 'nobody' }],
      ] as [string, string, unknown?][]) {
        const res = await admin(method, path, body);
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
        expect(res.body.error.code).toBe('tenant_not_found');
      }
      const unknownKey = await admin('DELETE', '/keys/key_doesnotexist');
      expect(unknownKey.status).toBe(404);
      expect(unknownKey.body.error.code).toBe('key_not_found');

      expect((await admin('POST', '/tenants', { id: 'twice' })).status).toBe(201);
      const again = await admin('POST', '/tenants', { id: 'twice', tier: 'pro' });
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({ code: 'tenant_exists', param: 'id' });

      expect((await admin('DELETE', '/tenants/twice')).body.disabled).toBe(true);
      const refused = await admin('POST', '/keys', { tenant: 'twice' });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('tenant_disabled');

      const past = await admin('POST', '/keys', { tenant: TENANT_B.tenant, expires_at: 1_000_000 });
      expect(past.status).toBe(400);
      expect(past.body.error.param).toBe('expires_at');
    });
  });

  describe('keys', () => {
    it('makes a key that works at once with the official SDK, for its own tenant only, shown once and stored only as a hash', async () => {
      const tenant = await admin('POST', '/tenants', { id: 'acme' });
      expect(tenant.status).toBe(201);
      expect(tenant.body).toEqual({
        object: 'tenant',
        id: 'acme',
        tier: 'default',
        limits: { rate_limit_multiplier: null, enqueued_token_limit: null, max_active_batches: null },
        disabled: false,
        source: 'database',
        created_at: expect.any(Number),
        updated_at: expect.any(Number),
        webhook: null,
      });
      const created = await createKey('acme');
      expect(created).toEqual({
        object: 'api_key',
        id: expect.stringMatching(/^key_[A-Za-z0-9]+$/),
        tenant: 'acme',
        name: KEY_NAME,
        prefix: `${created.key.slice(0, 7)}…`,
        created_at: expect.any(Number),
        last_used_at: null,
        expires_at: null,
        revoked_at: null,
        key: expect.stringMatching(/^sk-[A-Za-z0-9_-]{43}$/),
      });

      // Tenant A's file is not acme's business, and acme's is not A's.
      const fileOfA = await uploadBatchFile(a, toJsonl([chatLine('a-1', 'bonjour')]), 'à.jsonl');
      const acme = sdkClient(app.url, created.key);
      const fileOfAcme = await uploadBatchFile(
        acme,
        toJsonl([chatLine('acme-1', 'こんにちは')]),
        'acme-✓.jsonl',
      );
      const acmeFiles = (await acme.files.list()).data.map((f) => f.id);
      expect(acmeFiles).toEqual([fileOfAcme]);
      expect((await a.files.list()).data.map((f) => f.id)).not.toContain(fileOfAcme);
      expect(await sdkError(acme.files.retrieve(fileOfA))).toBe(404);

      // Listed without the secret, with its last use recorded (off the request path, so soon after).
      const listed = await until(
        async () => {
          const res = await admin('GET', '/keys?tenant=acme');
          return res.body.data[0]?.last_used_at !== null ? res : null;
        },
        10_000,
        'last_used_at',
      );
      expect(listed.body.data).toEqual([{ ...created, key: undefined, last_used_at: expect.any(Number) }]);
      expect(JSON.stringify((await admin('GET', '/keys')).body)).not.toContain(created.key.slice(7));

      // The database holds no column with the key, nor its secret part.
      const db = new Client({ connectionString: env.databaseUrl });
      await db.connect();
      try {
        const { rows } = await db.query('SELECT * FROM api_keys');
        expect(rows).toHaveLength(1);
        for (const [column, value] of Object.entries(rows[0] as Record<string, unknown>)) {
          const text = value instanceof Date ? value.toISOString() : String(value);
          expect({ column, leaks: text.includes(created.key.slice(3, 20)) }).toEqual({
            column,
            leaks: false,
          });
        }
        const { rows: audit } = await db.query('SELECT details::text AS d FROM admin_audit');
        for (const { d } of audit as { d: string }[]) expect(d).not.toContain(created.key.slice(3));
      } finally {
        await db.end();
      }
    });

    it('refuses a revoked key on two API instances sharing the database within 5 s', async () => {
      const key = await createKey(TENANT_B.tenant);
      const second: TestApp = await startApp({ ...env.env, APP_ROLE: 'api', MIGRATIONS_RUN: 'false' });
      try {
        const clients = [app.url, second.url].map((url) => sdkClient(url, key.key));
        for (const c of clients) expect(await lists(c)).toBe(true);

        const revoked = await admin('DELETE', `/keys/${key.id}`);
        expect(revoked.status).toBe(200);
        expect(revoked.body).toMatchObject({ id: key.id, revoked_at: expect.any(Number) });
        expect(revoked.body.key).toBeUndefined();
        await until(
          async () =>
            (await Promise.all(clients.map((c) => sdkError(c.files.list())))).every((s) => s === 401),
          5000,
          'the revoked key to be refused by both instances',
          100,
        );
        // API_KEYS' key of the same tenant still works.
        expect(await lists(sdkClient(second.url, TENANT_B.key))).toBe(true);
      } finally {
        await second.close();
      }
    });

    it('stops a key at its expires_at', async () => {
      const key = await createKey(TENANT_B.tenant, { expires_at: Math.floor(Date.now() / 1000) + 2 });
      const client = sdkClient(app.url, key.key);
      await until(
        async () => (await sdkError(client.files.list())) === 401,
        10_000,
        'the key to expire',
        200,
      );
    });
  });

  describe('tenant settings override the environment, without a restart', () => {
    const readLimit = async (key: string): Promise<number> => {
      const res = await fetch(`${app.url}/v1/files`, { headers: authHeader(key) });
      expect(res.status).toBe(200);
      return Number(res.headers.get('x-ratelimit-limit'));
    };
    const base = Number(RELAXED_LIMITS.THROTTLE_READ_LIMIT);

    it("tier and rate-limit multiplier change an API_KEYS tenant's limits", async () => {
      expect(await readLimit(TENANT_C.key)).toBe(base);
      const pro = await admin('PATCH', `/tenants/${TENANT_C.tenant}`, { tier: 'pro' });
      expect(pro.status).toBe(200);
      expect(pro.body).toMatchObject({ id: TENANT_C.tenant, tier: 'pro', source: 'database' });
      await until(async () => (await readLimit(TENANT_C.key)) === base * 5, 5000, 'tier pro');

      await admin('PATCH', `/tenants/${TENANT_C.tenant}`, { limits: { rate_limit_multiplier: 0.5 } });
      await until(async () => (await readLimit(TENANT_C.key)) === base / 2, 5000, 'multiplier 0.5');

      const reset = await admin('PATCH', `/tenants/${TENANT_C.tenant}`, { tier: null, limits: null });
      expect(reset.body).toMatchObject({
        tier: 'default',
        limits: { rate_limit_multiplier: null, enqueued_token_limit: null, max_active_batches: null },
      });
      await until(async () => (await readLimit(TENANT_C.key)) === base, 5000, 'back to the environment');
    });

    it('a lowered enqueued-token limit fails the next batch with token_limit_exceeded; 0 lifts it', async () => {
      await admin('POST', '/tenants', { id: 'budget', limits: { enqueued_token_limit: 50 } });
      const client = sdkClient(app.url, (await createKey('budget')).key);
      const file = await uploadBatchFile(
        client,
        toJsonl([
          chatLine('b-1', 'résumé ✓', { max_tokens: 100 }),
          chatLine('b-2', '長い文章', { max_tokens: 100 }),
        ]),
      );
      const create = () =>
        client.batches.create({
          input_file_id: file,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        });
      const refused = await waitForBatch(client, (await create()).id);
      expect(refused.status).toBe('failed');
      expect(refused.errors?.data?.[0]).toMatchObject({
        code: 'token_limit_exceeded',
        message: expect.stringContaining('Limit: 50 enqueued tokens'),
      });

      await admin('PATCH', '/tenants/budget', { limits: { enqueued_token_limit: 0 } });
      expect(await waitForBatch(client, (await create()).id)).toMatchObject({ status: 'completed' });
    });

    it('max_active_batches refuses one more unfinished batch with a 429; null returns to the environment (unlimited)', async () => {
      await admin('POST', '/tenants', { id: 'one-at-a-time' });
      const client = sdkClient(app.url, (await createKey('one-at-a-time')).key);
      const file = await uploadBatchFile(
        client,
        toJsonl([chatLine('o-1', 'un seul à la fois', { max_tokens: 50 })]),
      );
      const create = () =>
        client.batches.create({
          input_file_id: file,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        });
      sim.setOptions({ stepBaseMs: 200, outputTokens: 50 });
      try {
        await admin('PATCH', '/tenants/one-at-a-time', { limits: { max_active_batches: 1 } });
        const first = await create();
        const refused = await create().catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(OpenAI.APIError);
        expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
        expect((refused as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
          code: 'active_batch_limit_reached',
        });

        await admin('PATCH', '/tenants/one-at-a-time', { limits: { max_active_batches: null } });
        const second = await create();
        sim.setOptions({ stepBaseMs: 1, outputTokens: 4 });
        for (const b of [first, second])
          expect(await waitForBatch(client, b.id)).toMatchObject({ status: 'completed' });
      } finally {
        sim.setOptions({ stepBaseMs: 1, outputTokens: 4 });
      }
    });

    it("disabling a tenant stops its keys (API_KEYS' too) within 5 s and keeps its data; enabling restores them", async () => {
      const key = await createKey(TENANT_C.tenant);
      const fromEnv = sdkClient(app.url, TENANT_C.key);
      const fromDb = sdkClient(app.url, key.key);
      const file = await uploadBatchFile(fromEnv, toJsonl([chatLine('c-1', 'gardé ✓')]));

      const disabled = await admin('DELETE', `/tenants/${TENANT_C.tenant}`);
      expect(disabled.body).toMatchObject({ id: TENANT_C.tenant, disabled: true });
      await until(
        async () =>
          (await Promise.all([fromEnv, fromDb].map((c) => sdkError(c.files.list())))).every((s) => s === 401),
        5000,
        'both keys refused',
        100,
      );
      expect((await admin('GET', '/tenants')).body.data).toContainEqual(
        expect.objectContaining({ id: TENANT_C.tenant, disabled: true }),
      );

      expect((await admin('POST', `/tenants/${TENANT_C.tenant}/enable`)).body.disabled).toBe(false);
      await until(async () => (await sdkError(fromDb.files.list())) === 200, 5000, 'keys working again', 100);
      expect((await fromEnv.files.retrieve(file)).id).toBe(file);
    });
  });

  it('lists environment-only tenants beside database ones', async () => {
    const list = (await admin('GET', '/tenants')).body;
    expect(list.object).toBe('list');
    expect(list.data).toContainEqual(
      expect.objectContaining({
        id: TENANT_A.tenant,
        source: 'environment',
        created_at: null,
        disabled: false,
      }),
    );
    expect(list.data).toContainEqual(expect.objectContaining({ id: 'acme', source: 'database' }));
  });

  it('reports usage per tenant by day and by model, from batch totals', async () => {
    await admin('POST', '/tenants', { id: 'usage-co' });
    const client = sdkClient(app.url, (await createKey('usage-co')).key);
    const file = await uploadBatchFile(
      client,
      toJsonl([chatLine('u-1', 'Grüße aus Köln'), chatLine('u-2', '你好，世界'), chatLine('u-3', '🙂 ok')]),
    );
    const batch = await waitForBatch(
      client,
      (
        await client.batches.create({
          input_file_id: file,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        })
      ).id,
    );
    expect(batch.status).toBe('completed');
    const totals = {
      batches: 1,
      requests_completed: 3,
      requests_failed: 0,
      input_tokens: batch.usage!.input_tokens,
      cached_tokens: batch.usage!.input_tokens_details.cached_tokens,
      output_tokens: batch.usage!.output_tokens,
    };
    expect(totals.output_tokens).toBeGreaterThan(0);
    const today = new Date(batch.created_at * 1000).toISOString().slice(0, 10);

    const byDay = await admin('GET', '/usage?tenant=usage-co&group_by=day');
    expect(byDay.body).toEqual({
      object: 'list',
      data: [{ object: 'usage', tenant: 'usage-co', day: today, ...totals }],
    });
    const byModel = await admin('GET', '/usage?tenant=usage-co&group_by=model');
    expect(byModel.body.data).toEqual([
      { object: 'usage', tenant: 'usage-co', model: 'sim-model', ...totals },
    ]);
    // A window that ends before the batch counts nothing; all tenants include this one.
    const before = await admin('GET', `/usage?tenant=usage-co&until=${batch.created_at}`);
    expect(before.body.data).toEqual([]);
    const all = await admin('GET', '/usage');
    expect(all.body.data).toContainEqual({ object: 'usage', tenant: 'usage-co', ...totals });

    const bad = await admin('GET', '/usage?group_by=week');
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('group_by');
  });

  it('refuses to set a webhook without SECRETS_ENCRYPTION_KEY, saying why', async () => {
    const res = await admin('PUT', `/tenants/${TENANT_A.tenant}/webhook`, {
      url: 'https://hooks.example.com/ü',
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'secrets_encryption_key_missing' });
    expect(res.body.error.message).toMatch(/SECRETS_ENCRYPTION_KEY/);
  });

  it('keeps an audit trail of every change, newest first, without secrets', async () => {
    const key = await createKey('acme');
    await admin('PATCH', '/tenants/acme', { tier: 'pro', limits: { max_active_batches: 4 } });
    await admin('DELETE', `/keys/${key.id}`);
    await admin('DELETE', '/tenants/acme');
    await admin('POST', '/tenants/acme/enable');

    const trail = (await admin('GET', '/audit?tenant=acme&limit=6')).body.data as Json[];
    expect(trail.map((e) => e.action)).toEqual([
      'tenant.enable',
      'tenant.disable',
      'key.revoke',
      'tenant.update',
      'key.create',
      'key.create',
    ]);
    for (const e of trail)
      expect(e).toMatchObject({
        object: 'audit_entry',
        actor: ADMIN.user,
        tenant: 'acme',
        at: expect.any(Number),
      });
    expect(trail[3]).toMatchObject({
      target: 'acme',
      details: { tier: 'pro', limits: { max_active_batches: 4 } },
    });
    expect(trail[2]).toMatchObject({
      target: key.id,
      details: { name: KEY_NAME, prefix: key.prefix.slice(0, 7) },
    });
    expect(JSON.stringify(trail)).not.toContain(key.key.slice(7));
    const ids = trail.map((e) => e.id as number);
    expect([...ids].sort((x, y) => y - x)).toEqual(ids);
  });
});

describe('open mode ends once a key exists in the database', () => {
  const { app } = useApp({
    env: { API_KEYS: '', ADMIN_USER: ADMIN.user, ADMIN_PASSWORD: ADMIN.password, APP_ROLE: 'api' },
  });

  it('serves anyone while no key exists, then only keys', async () => {
    expect(await lists(sdkClient(app.url, 'anything'))).toBe(true);
    const post = (path: string, body: unknown) =>
      fetch(`${app.adminUrl}/admin/api${path}`, {
        method: 'POST',
        headers: { ...basic(ADMIN), 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Json }));
    expect((await post('/tenants', { id: 'first' })).status).toBe(201);
    const key = await post('/keys', { tenant: 'first', name: KEY_NAME });
    expect(key.status).toBe(201);

    await until(
      async () => {
        const res = await fetch(`${app.url}/v1/files`, { headers: authHeader('anything') });
        return res.status === 401;
      },
      5000,
      'open mode to end',
    );
    expect(await lists(sdkClient(app.url, key.body.key))).toBe(true);
  });
});

describe('production with no key anywhere: closed, not open, until the admin API makes one', () => {
  const { app } = useApp({
    env: {
      API_KEYS: '',
      NODE_ENV: 'production',
      ADMIN_USER: ADMIN.user,
      ADMIN_PASSWORD: ADMIN.password,
      APP_ROLE: 'api',
    },
  });

  it('refuses every caller, then admits the key made through the admin API', async () => {
    expect((await fetch(`${app.url}/v1/files`, { headers: authHeader('anything') })).status).toBe(401);
    expect((await fetch(`${app.url}/v1/files`)).status).toBe(401);
    const headers = { ...basic(ADMIN), 'Content-Type': 'application/json' };
    await fetch(`${app.adminUrl}/admin/api/tenants`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ id: 'prod' }),
    });
    const res = await fetch(`${app.adminUrl}/admin/api/keys`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ tenant: 'prod' }),
    });
    const { key } = (await res.json()) as { key: string };
    expect(await lists(sdkClient(app.url, key))).toBe(true);
    expect((await fetch(`${app.url}/v1/files`, { headers: authHeader('anything') })).status).toBe(401);
  });
});

describe('webhook endpoints through the admin API', () => {
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    await receiver?.close();
  });
  const { app } = useApp({
    simulator: { stepBaseMs: 1, outputTokens: 4 },
    env: () => ({
      APP_ROLE: 'all',
      ADMIN_USER: ADMIN.user,
      ADMIN_PASSWORD: ADMIN.password,
      API_KEYS: `${TENANT_A.tenant}:${TENANT_A.key}`,
      SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      WEBHOOK_SECRET_ROTATION_GRACE_SECONDS: '3600',
      WEBHOOK_RETRY_SCHEDULE: '0,1',
      ...RELAXED_LIMITS,
      ...fixedInflight(4),
    }),
  });
  const call = async (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${app.adminUrl}/admin/api${path}`, {
      method,
      headers: { ...basic(ADMIN), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };

  it('sets a URL with a secret shown once, signs deliveries with it, rotates and removes, audited without secrets', async () => {
    const tenant = TENANT_A.tenant;
    const first = await call('PUT', `/tenants/${tenant}/webhook`, { url: receiver.url('/hooks/é') });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      object: 'webhook_endpoint',
      tenant,
      url: receiver.url('/hooks/é'),
      secret: expect.stringMatching(/^whsec_/),
      previous_secret_expires_at: null,
    });
    // The tenant shows where its events go, never the secret.
    const shown = await call('GET', `/tenants/${tenant}`);
    expect(shown.body.webhook).toMatchObject({ url: receiver.url('/hooks/é'), source: 'database' });
    expect(JSON.stringify(shown.body)).not.toContain(first.body.secret.slice(6));

    // A batch of the tenant ends: its event arrives signed with the secret the API returned.
    const client = sdkClient(app.url, TENANT_A.key);
    const batch = await client.batches.create({
      input_file_id: await uploadBatchFile(client, toJsonl([chatLine('α', 'Grüß Gott 👋')])),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await waitForBatch(client, batch.id, ['completed'], 30_000);
    await until(
      async () => receiver.about(batch.id).some((r) => r.status === 200),
      20_000,
      'event delivered',
    );
    const got = receiver.about(batch.id).find((r) => r.status === 200)!;
    const verifier = new OpenAI({ apiKey: 'unused' });
    expect(
      await verifier.webhooks.unwrap(got.body, got.headers as Record<string, string>, first.body.secret),
    ).toMatchObject({ type: 'batch.completed', data: { id: batch.id } });

    // Rotation: a new secret, the old one valid for the grace period.
    const second = await call('PUT', `/tenants/${tenant}/webhook`, { url: receiver.url('/hooks/é') });
    expect(second.body.secret).not.toBe(first.body.secret);
    expect(second.body.previous_secret_expires_at).toBeGreaterThan(Date.now() / 1000 + 3500);

    expect(await call('DELETE', `/tenants/${tenant}/webhook`)).toMatchObject({
      status: 200,
      body: { object: 'webhook_endpoint.deleted', tenant, deleted: true },
    });
    expect((await call('DELETE', `/tenants/${tenant}/webhook`)).body.deleted).toBe(false);
    expect((await call('GET', `/tenants/${tenant}`)).body.webhook).toBeNull();

    const trail = (await call('GET', `/audit?tenant=${tenant}`)).body.data as Json[];
    expect(trail.map((e) => e.action)).toEqual(['webhook.delete', 'webhook.set', 'webhook.set']);
    const text = JSON.stringify(trail);
    for (const s of [first.body.secret, second.body.secret]) expect(text).not.toContain(s.slice(6));
  });

  it('refuses a bad URL and an unknown tenant in the envelope', async () => {
    const bad = await call('PUT', `/tenants/${TENANT_A.tenant}/webhook`, { url: 'ftp://example.com/x' });
    expect(bad).toMatchObject({ status: 400, body: { error: { param: 'url', code: 'invalid_url' } } });
    const missing = await call('PUT', '/tenants/nobody-here/webhook', { url: receiver.url('/x') });
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'tenant_not_found' } } });
    const extra = await call('PUT', `/tenants/${TENANT_A.tenant}/webhook`, {
      url: receiver.url('/x'),
      secret: 's',
    });
    expect(extra.status).toBe(400);
  });
});
