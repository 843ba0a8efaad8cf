/**
 * `vllm-batch admin …`, run as the built process an operator runs, against the real app's admin API
 * (admin port, HTTP Basic auth): each command's --json output is the API's object, its human output
 * a summary or a table, a created key or webhook secret is shown once and works at once, and the
 * API's refusals come out as one plain line with OpenAI's message and exit 1.
 */
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { chatLine, Json, toJsonl, uploadBatchFile, waitForBatch } from '../support/batch-helpers';
import { fixedInflight, RELAXED_LIMITS, useApp } from '../support/app-fixture';
import { ensureBuilt, freePort, until } from '../support/harness';
import { CliResult, jsonOf, runCli } from './run-cli';

/** A password with multi-byte characters: Basic auth carries it as UTF-8. */
const ADMIN = { user: 'ops', password: 'pässwörd-管理-🔑' };
const MULTIBYTE = 'héllo wörld — 日本語のテキスト 👩‍💻 مرحبا';
const KEY_NAME = '夜間ジョブ 🌙 nightly';

describe('vllm-batch admin (the built command against the admin API)', () => {
  const { app } = useApp({
    simulator: { stepBaseMs: 2, outputTokens: 4 },
    env: {
      ADMIN_USER: ADMIN.user,
      ADMIN_PASSWORD: ADMIN.password,
      ADMIN_PORT: '0',
      THROTTLE_TIERS: 'pro=5',
      SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      ...fixedInflight(8),
      ...RELAXED_LIMITS,
    },
  });
  let env: Record<string, string>;
  const admin = (...args: string[]): Promise<CliResult> => runCli(['admin', ...args], env);
  /** The same object read straight from the API, to compare --json output with. */
  const api = async (path: string): Promise<Json> => {
    const res = await fetch(`${app.adminUrl}/admin/api${path}`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`,
      },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Json;
  };
  const sdk = (key: string) => new OpenAI({ baseURL: `${app.url}/v1`, apiKey: key, maxRetries: 0 });
  /** A key made through the CLI, as --json gives it. */
  const newKey = async (tenant: string, ...flags: string[]): Promise<Json> => {
    const res = await admin('--json', 'keys', 'create', '--tenant', tenant, ...flags);
    expect(res.code).toBe(0);
    return jsonOf<Json>(res);
  };

  beforeAll(() => {
    ensureBuilt();
    env = { VLLM_BATCH_ADMIN_URL: app.adminUrl!, ADMIN_USER: ADMIN.user, ADMIN_PASSWORD: ADMIN.password };
  });

  it('tenants: create, get, update, ls, disable, enable — the API objects with --json, a summary and a table without', async () => {
    const created = await admin(
      '--json',
      'tenants',
      'create',
      'acme.cli-1',
      '--tier',
      'pro',
      '--enqueued-token-limit',
      '5000',
      '--max-active-batches',
      '0',
    );
    expect(created.code).toBe(0);
    expect(jsonOf(created)).toEqual(await api('/tenants/acme.cli-1'));
    expect(jsonOf(created)).toMatchObject({
      object: 'tenant',
      id: 'acme.cli-1',
      tier: 'pro',
      limits: { rate_limit_multiplier: null, enqueued_token_limit: 5000, max_active_batches: 0 },
      disabled: false,
      source: 'database',
      webhook: null,
    });

    const shown = await admin('tenants', 'get', 'acme.cli-1');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(
      /^acme\.cli-1\n {2}state +enabled\n {2}tier +pro\n {2}rate limits +default\n {2}token limit +5,000\n {2}max active +unlimited\n {2}webhook +-\n/,
    );

    const updated = await admin(
      '--json',
      'tenants',
      'update',
      'acme.cli-1',
      '--rate-limit-multiplier',
      '2.5',
      '--enqueued-token-limit',
      'default',
    );
    expect(updated.code).toBe(0);
    expect(jsonOf(updated)).toMatchObject({
      tier: 'pro',
      limits: { rate_limit_multiplier: 2.5, enqueued_token_limit: null, max_active_batches: 0 },
    });
    expect((await admin('tenants', 'update', 'acme.cli-1')).stderr).toMatch(/^vllm-batch: Nothing to change/);

    const listed = await admin('--json', 'tenants', 'ls');
    expect(jsonOf(listed)).toEqual(await api('/tenants'));
    expect((await admin('tenants', 'ls')).stdout).toMatch(
      /^ID +STATE +TIER +RATE +TOKEN LIMIT +MAX ACTIVE +SOURCE +WEBHOOK\n(.*\n)*acme\.cli-1 +enabled +pro +×2\.5 +default +unlimited +database +-\n/,
    );

    const disabled = await admin('tenants', 'disable', 'acme.cli-1');
    expect(disabled.code).toBe(0);
    expect(disabled.stdout).toMatch(/state +disabled/);
    expect(disabled.stderr).toContain('vllm-batch admin tenants enable acme.cli-1');
    expect((await api('/tenants/acme.cli-1')).disabled).toBe(true);
    const enabled = await admin('--json', 'tenants', 'enable', 'acme.cli-1');
    expect(jsonOf(enabled)).toMatchObject({ id: 'acme.cli-1', disabled: false });
  });

  it('keys: the new key is printed once and works with the SDK at once; ls never shows it; revoked, it is refused', async () => {
    expect((await admin('tenants', 'create', 'keys-cli')).code).toBe(0);

    const made = await admin(
      'keys',
      'create',
      '--tenant',
      'keys-cli',
      '--name',
      KEY_NAME,
      '--expires-in',
      '30d',
    );
    expect(made.code).toBe(0);
    const key = /^ {2}key +(sk-\S+)$/m.exec(made.stdout)?.[1];
    expect(key).toBeDefined();
    expect(made.stdout).toMatch(/^key_\S+\n {2}tenant +keys-cli\n {2}name +夜間ジョブ 🌙 nightly\n/);
    expect(made.stderr).toContain('shown this once: store it now, it cannot be shown again');
    const id = /^(key_\S+)$/m.exec(made.stdout)![1];

    // It opens the batch API straight away, as its tenant.
    await expect(sdk(key!).batches.list()).resolves.toBeDefined();

    const listed = await admin('--json', 'keys', 'ls', '--tenant', 'keys-cli');
    expect(listed.code).toBe(0);
    expect(jsonOf(listed)).toEqual(await api('/keys?tenant=keys-cli'));
    const [row] = jsonOf<Json>(listed).data;
    expect(row).toMatchObject({ id, tenant: 'keys-cli', name: KEY_NAME, prefix: expect.any(String) });
    expect(row).not.toHaveProperty('key');
    // About thirty days from now.
    expect(Math.abs(row.expires_at - (Date.now() / 1000 + 30 * 86_400))).toBeLessThan(3600);
    const table = await admin('keys', 'ls', '--tenant', 'keys-cli');
    expect(table.stdout).toMatch(
      new RegExp(`^ID +TENANT +NAME +PREFIX +STATE .*\\n${id} +keys-cli +${KEY_NAME} +\\S+ +active `),
    );
    for (const r of [listed, table]) expect(r.stdout).not.toContain(key);

    const revoked = await admin('--json', 'keys', 'revoke', id);
    expect(revoked.code).toBe(0);
    expect(jsonOf(revoked)).toMatchObject({ id, revoked_at: expect.any(Number) });
    expect(revoked.stdout).not.toContain(key);
    await until(
      () =>
        sdk(key!)
          .batches.list()
          .then(
            () => false,
            (err: unknown) => err instanceof OpenAI.AuthenticationError,
          ),
      10_000,
      'the revoked key to be refused',
    );
    expect((await admin('keys', 'ls', '--tenant', 'keys-cli')).stdout).toMatch(
      new RegExp(`${id} .* revoked `),
    );

    // One expiry, not two; nothing is created.
    const both = await admin(
      'keys',
      'create',
      '--tenant',
      'keys-cli',
      '--expires-in',
      '1d',
      '--expires-at',
      '2099-01-01',
    );
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/cannot be used with/);
    expect((await api('/keys?tenant=keys-cli')).data).toHaveLength(1);
  });

  it('webhook: set prints a fresh whsec_ secret once, setting again rotates it (the old one signs for a while), rm removes it', async () => {
    expect((await admin('tenants', 'create', 'hooks-cli')).code).toBe(0);
    const url = 'https://hooks.example.com/vllm-batch/通知';

    const first = await admin('webhook', 'set', 'hooks-cli', url);
    expect(first.code).toBe(0);
    const secret = /^ {2}secret +(whsec_\S+)$/m.exec(first.stdout)?.[1];
    expect(secret).toBeDefined();
    expect(first.stdout).toContain(url);
    expect(first.stderr).toContain('shown this once: store it now, it cannot be shown again');

    const second = await admin('--json', 'webhook', 'set', 'hooks-cli', url);
    expect(second.code).toBe(0);
    const rotated = jsonOf<Json>(second);
    expect(rotated).toMatchObject({
      object: 'webhook_endpoint',
      tenant: 'hooks-cli',
      url,
      secret: expect.stringMatching(/^whsec_/),
      previous_secret_expires_at: expect.any(Number),
    });
    expect(rotated.secret).not.toBe(secret);

    const shown = await admin('tenants', 'get', 'hooks-cli');
    expect(shown.stdout).toMatch(new RegExp(`webhook +${url}\\n`));
    expect(shown.stdout).toMatch(/old secret +signs too until \d{4}-/);
    for (const s of [secret!, rotated.secret]) expect(shown.stdout).not.toContain(s);

    const removed = await admin('webhook', 'rm', 'hooks-cli');
    expect(removed).toMatchObject({ code: 0, stdout: 'hooks-cli: webhook endpoint removed\n' });
    expect((await api('/tenants/hooks-cli')).webhook).toBeNull();
  });

  it("usage: a tenant's batch counted per model, as the API says; an empty period says so", async () => {
    expect((await admin('tenants', 'create', 'usage-cli')).code).toBe(0);
    const client = sdk((await newKey('usage-cli')).key);
    const lines = [chatLine('u-1', MULTIBYTE), chatLine('u-2', 'plain'), chatLine('u-3', '三番目')];
    const batch = await client.batches.create({
      input_file_id: await uploadBatchFile(client, toJsonl(lines)),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect((await waitForBatch(client, batch.id)).status).toBe('completed');

    const res = await admin('--json', 'usage', '--tenant', 'usage-cli', '--group-by', 'model');
    expect(res.code).toBe(0);
    expect(jsonOf(res)).toEqual(await api('/usage?tenant=usage-cli&group_by=model'));
    const [row] = jsonOf<Json>(res).data;
    expect(row).toMatchObject({
      object: 'usage',
      tenant: 'usage-cli',
      model: 'sim-model',
      batches: 1,
      requests_completed: 3,
      requests_failed: 0,
      input_tokens: expect.any(Number),
      output_tokens: 12,
    });

    const human = await admin('usage', '--tenant', 'usage-cli', '--group-by', 'model', '--since', '1d');
    expect(human.stdout).toMatch(
      /^TENANT +MODEL +BATCHES +COMPLETED +FAILED +INPUT TOKENS +CACHED +OUTPUT TOKENS\nusage-cli +sim-model +1 +3 +0 +[\d,]+ +[\d,]+ +12\n$/,
    );
    const before = await admin(
      'usage',
      '--tenant',
      'usage-cli',
      '--since',
      '2020-01-01',
      '--until',
      '2020-02-01',
    );
    expect(before).toMatchObject({ code: 0, stdout: 'No usage in this period.\n' });
    const both = await admin('--json', 'usage', '--tenant', 'usage-cli', '--group-by', 'day,model');
    expect(jsonOf<Json>(both).data).toEqual([
      expect.objectContaining({
        day: new Date(batch.created_at * 1000).toISOString().slice(0, 10),
        model: 'sim-model',
        batches: 1,
      }),
    ]);
  });

  it('audit: who changed what, newest first, never a secret', async () => {
    expect((await admin('tenants', 'create', 'audit-cli')).code).toBe(0);
    const key = await newKey('audit-cli', '--name', KEY_NAME);
    expect((await admin('keys', 'revoke', key.id)).code).toBe(0);

    const res = await admin('--json', 'audit', '--tenant', 'audit-cli', '--limit', '10');
    expect(res.code).toBe(0);
    const entries = jsonOf<Json>(res).data;
    expect(entries.map((e: Json) => [e.action, e.actor])).toEqual([
      ['key.revoke', ADMIN.user],
      ['key.create', ADMIN.user],
      ['tenant.create', ADMIN.user],
    ]);
    expect(res.stdout).not.toContain(key.key);

    const human = await admin('audit', '--tenant', 'audit-cli', '--limit', '2');
    expect(human.stdout).toMatch(
      new RegExp(
        `^AT +ACTOR +ACTION +TARGET +ADDRESS +DETAILS\\n\\d{4}-\\S+ +ops +key\\.revoke .*\\n\\d{4}-\\S+ +ops +key\\.create .*\\n$`,
      ),
    );
    expect(human.stdout).not.toContain(key.key);
  });

  describe('errors are one plain line (the API message) and exit 1', () => {
    it("an unknown tenant (404), a tenant that exists (409), a tier that does not (400): the API's words", async () => {
      const missing = await admin('tenants', 'get', 'no-such-tenant');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^vllm-batch: 404 tenant_not_found: .+\n$/);
      const json = await admin('--json', 'tenants', 'get', 'no-such-tenant');
      expect(json.code).toBe(1);
      expect(jsonOf(json)).toEqual({
        error: expect.objectContaining({
          status: 404,
          code: 'tenant_not_found',
          message: expect.any(String),
        }),
      });

      expect((await admin('tenants', 'create', 'twice-cli')).code).toBe(0);
      const twice = await admin('tenants', 'create', 'twice-cli');
      expect(twice.code).toBe(1);
      expect(twice.stderr).toMatch(/^vllm-batch: 409 tenant_exists: .+\n$/);

      const tier = await admin('tenants', 'create', 'tier-cli', '--tier', 'platinum');
      expect(tier.code).toBe(1);
      expect(tier.stderr).toMatch(/^vllm-batch: 400 .*\n$/);
      for (const r of [missing, twice, tier]) expect(r.stderr).not.toMatch(/\n\s+at /);
    });

    it('wrong or missing credentials, an admin port that does not answer, a bad flag value', async () => {
      const wrong = await runCli(['admin', 'tenants', 'ls'], { ...env, ADMIN_PASSWORD: 'not-it' });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/^vllm-batch: 401 .*Check ADMIN_USER and ADMIN_PASSWORD/);

      const none = await runCli(['admin', 'tenants', 'ls'], { VLLM_BATCH_ADMIN_URL: app.adminUrl! });
      expect(none).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/^vllm-batch: The admin API needs the admin credentials/),
      });

      const url = `http://127.0.0.1:${await freePort()}`;
      const away = await admin('--admin-url', url, 'keys', 'ls');
      expect(away.code).toBe(1);
      expect(away.stderr).toBe(
        `vllm-batch: Cannot reach the admin API at ${url} (connection refused). Is it running? It is served on the admin port (ADMIN_PORT) when the service has ADMIN_USER set. Set --admin-url or VLLM_BATCH_ADMIN_URL.\n`,
      );

      const badLimit = await admin('tenants', 'create', 'x', '--max-active-batches', '-1');
      expect(badLimit.code).toBe(1);
      expect(badLimit.stderr).toMatch(
        /argument '-1' is invalid\. expected a whole number, 0 for unlimited, or "default"/,
      );
      const badGroup = await admin('usage', '--group-by', 'week');
      expect(badGroup.code).toBe(1);
      expect(badGroup.stderr).toMatch(/expected day, model or day,model, got "week"/);
    });
  });
});
