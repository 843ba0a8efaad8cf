import { ConfigError, loadConfig, loadDatabaseConfig, openAccessRefusal } from './app-config';

const KEYS = 'acme:sk-acme-key-0001';

function refusal(env: Record<string, string>): string | null {
  try {
    loadConfig(env);
    return null;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message;
  }
}

describe('loadConfig: secure defaults', () => {
  it('refuses a production start with no API key in API_KEYS nor in the database, saying why and what to set', () => {
    for (const keys of [undefined, '', '  ']) {
      const env: Record<string, string> = { NODE_ENV: 'production' };
      if (keys !== undefined) env.API_KEYS = keys;
      const message = openAccessRefusal(loadConfig(env), false);
      expect(message).toMatch(/API_KEYS is empty and NODE_ENV=production/);
      expect(message).toMatch(/ADMIN_USER\/ADMIN_PASSWORD/);
      expect(message).toMatch(/ALLOW_OPEN_ACCESS=true/);
    }
    expect(openAccessRefusal(loadConfig({ NODE_ENV: 'production', APP_ROLE: 'api' }), false)).toMatch(
      /API_KEYS is empty/,
    );
  });

  it('starts in production with keys only in the database, or with the admin API on to create the first one', () => {
    expect(openAccessRefusal(loadConfig({ NODE_ENV: 'production' }), true)).toBeNull();
    const withAdmin = loadConfig({ NODE_ENV: 'production', ADMIN_USERS: 'ops:pw-1,zoë:pw:2' });
    expect(withAdmin.adminUsers).toEqual([
      { user: 'ops', password: 'pw-1' },
      { user: 'zoë', password: 'pw:2' },
    ]);
    expect(openAccessRefusal(withAdmin, false)).toBeNull();
    expect(loadConfig({ NODE_ENV: 'production' }).production).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).production).toBe(false);
  });

  it('runs open in production only when ALLOW_OPEN_ACCESS=true says so', () => {
    const config = loadConfig({ NODE_ENV: 'production', ALLOW_OPEN_ACCESS: 'true' });
    expect(config.apiKeys).toEqual([]);
    expect(config.allowOpenAccess).toBe(true);
    expect(openAccessRefusal(config, false)).toBeNull();
    expect(
      openAccessRefusal(loadConfig({ NODE_ENV: 'production', ALLOW_OPEN_ACCESS: 'false' }), false),
    ).toMatch(/API_KEYS is empty/);
    expect(refusal({ NODE_ENV: 'production', ALLOW_OPEN_ACCESS: 'maybe' })).toMatch(
      /ALLOW_OPEN_ACCESS must be true or false/,
    );
  });

  it('lets a worker-only process start without keys in production: it serves no API', () => {
    const worker = loadConfig({ NODE_ENV: 'production', APP_ROLE: 'worker' });
    expect(worker.apiKeys).toEqual([]);
    expect(openAccessRefusal(worker, false)).toBeNull();
  });

  it('reads several admin users from ADMIN_USERS beside ADMIN_USER/ADMIN_PASSWORD, refusing malformed or repeated ones', () => {
    expect(loadConfig({ ADMIN_USER: 'ops', ADMIN_PASSWORD: 'a', ADMIN_USERS: 'dev:b' }).adminUsers).toEqual([
      { user: 'ops', password: 'a' },
      { user: 'dev', password: 'b' },
    ]);
    expect(loadConfig({}).adminUsers).toEqual([]);
    expect(refusal({ ADMIN_USERS: 'ops' })).toMatch(/ADMIN_USERS entry #1 must be user:password/);
    expect(refusal({ ADMIN_USERS: 'ops:a,:b' })).toMatch(/entry #2/);
    expect(refusal({ ADMIN_USER: 'ops', ADMIN_PASSWORD: 'a', ADMIN_USERS: 'ops:b' })).toMatch(
      /Admin user "ops" is configured twice/,
    );
    expect(refusal({ ADMIN_USER: 'ops' })).toMatch(/must be set together/);
  });

  it('accepts real keys in production, and an empty API_KEYS outside production', () => {
    expect(loadConfig({ NODE_ENV: 'production', API_KEYS: KEYS }).apiKeys).toEqual([
      { tenant: 'acme', key: 'sk-acme-key-0001', tier: 'default' },
    ]);
    for (const NODE_ENV of ['', 'development', 'test']) {
      expect(loadConfig({ NODE_ENV }).apiKeys).toEqual([]);
    }
  });

  it('refuses a CHANGE-ME placeholder in a key or tenant, in any case and in every environment', () => {
    const placeholders = [
      'CHANGE-ME-tenant:CHANGE-ME-key',
      'acme:sk-CHANGE-ME-0001',
      'change-me:sk-acme-key-0001',
      `${KEYS},other:sk-Change-Me-please`,
    ];
    for (const API_KEYS of placeholders) {
      const envs: Record<string, string>[] = [{}, { NODE_ENV: 'production' }, { APP_ROLE: 'worker' }];
      for (const env of envs) {
        const message = refusal({ ...env, API_KEYS });
        expect({ API_KEYS, message }).toEqual({
          API_KEYS,
          message: expect.stringMatching(/placeholder CHANGE-ME.*would let anyone in/),
        });
        // The message names the entry, never the key itself.
        expect(message).not.toContain(API_KEYS.split(',').pop()!.split(':')[1]);
      }
    }
    expect(refusal({ API_KEYS: `${KEYS},other:sk-CHANGE-ME-0002` })).toMatch(/entry #2/);
  });
});

describe('loadConfig: database pool', () => {
  it('defaults DATABASE_POOL_MAX to 10 per process and validates it', () => {
    expect(loadConfig({}).databasePoolMax).toBe(10);
    expect(loadConfig({ DATABASE_POOL_MAX: '4' }).databasePoolMax).toBe(4);
    expect(refusal({ DATABASE_POOL_MAX: '0' })).toMatch(/DATABASE_POOL_MAX must be between 1 and 1000/);
    expect(refusal({ DATABASE_POOL_MAX: 'ten' })).toMatch(/DATABASE_POOL_MAX must be an integer/);
  });

  it('gives the migration CLI the database settings without the API rules', () => {
    const env = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db:5432/x', DATABASE_POOL_MAX: '3' };
    expect(loadDatabaseConfig(env)).toEqual({ databaseUrl: 'postgres://db:5432/x', databasePoolMax: 3 });
  });
});

describe('loadConfig: batch endpoints', () => {
  it("offers OpenAI's endpoints that vLLM serves and vLLM's scoring endpoints by default", () => {
    expect(loadConfig({}).batches.endpoints).toEqual([
      '/v1/chat/completions',
      '/v1/completions',
      '/v1/embeddings',
      '/v1/responses',
      '/v1/score',
      '/v1/rerank',
    ]);
  });

  it('takes a subset, and refuses an endpoint it cannot run or an empty list', () => {
    expect(loadConfig({ BATCH_ENDPOINTS: ' /v1/embeddings , /v1/rerank ' }).batches.endpoints).toEqual([
      '/v1/embeddings',
      '/v1/rerank',
    ]);
    expect(refusal({ BATCH_ENDPOINTS: '/v1/chat/completions,/v1/moderations' })).toMatch(
      /BATCH_ENDPOINTS lists .*got "\/v1\/moderations"/,
    );
    expect(refusal({ BATCH_ENDPOINTS: ',' })).toMatch(/BATCH_ENDPOINTS must list at least one endpoint/);
  });
});

describe('loadConfig: webhooks', () => {
  // Published in this file: test values only.
  const SECRET_A = `whsec_${Buffer.alloc(32, 'a').toString('base64')}`;
  const SECRET_DEFAULT = `whsec_${Buffer.alloc(24, 'd').toString('base64')}`;
  const hooks = (value: unknown): string => JSON.stringify(value);

  it('has no webhooks and the Standard Webhooks retry schedule by default', () => {
    expect(loadConfig({}).webhooks).toEqual({
      endpoints: {},
      rotationGraceSeconds: 86_400,
      retryScheduleSeconds: [0, 5, 300, 1800, 7200, 28800, 86400],
      timeoutMs: 10_000,
    });
  });

  it('reads one URL and secret per tenant; an entry without a secret takes WEBHOOK_SECRET', () => {
    const url = 'https://hooks.example.com/openai?team=a,b&sig=x=y';
    const config = loadConfig({
      WEBHOOKS: hooks({ acme: { url, secret: SECRET_A }, beta: { url: 'http://10.0.0.5:8080/h' } }),
      WEBHOOK_SECRET: SECRET_DEFAULT,
      WEBHOOK_RETRY_SCHEDULE: '0, 1,2',
      WEBHOOK_TIMEOUT_MS: '2500',
      WEBHOOK_SECRET_ROTATION_GRACE_SECONDS: '0',
    });
    expect(config.webhooks).toEqual({
      endpoints: {
        acme: { url, secret: SECRET_A },
        beta: { url: 'http://10.0.0.5:8080/h', secret: SECRET_DEFAULT },
      },
      rotationGraceSeconds: 0,
      retryScheduleSeconds: [0, 1, 2],
      timeoutMs: 2500,
    });
  });

  it('refuses to start on an invalid entry, naming it and never printing a secret', () => {
    const shortSecret = `whsec_${Buffer.alloc(23, 's').toString('base64')}`;
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ WEBHOOKS: '{"acme": {"url": "https://x"' }, /WEBHOOKS .* not valid JSON/],
      [{ WEBHOOKS: '["https://x"]' }, /WEBHOOKS must be a JSON object/],
      [{ WEBHOOKS: hooks({ acme: 'https://x' }) }, /entry "acme" must be an object/],
      [
        { WEBHOOKS: hooks({ acme: { url: 'ftp://x/h', secret: SECRET_A } }) },
        /entry "acme": url must be an http/,
      ],
      [{ WEBHOOKS: hooks({ acme: { url: 'not a url', secret: SECRET_A } }) }, /entry "acme": url must be/],
      [{ WEBHOOKS: hooks({ acme: { secret: SECRET_A } }) }, /entry "acme": url must be/],
      [
        { WEBHOOKS: hooks({ acme: { url: 'https://x', secret: 'plain-text-secret-1234567890' } }) },
        /entry "acme": the secret must be whsec_/,
      ],
      [
        { WEBHOOKS: hooks({ acme: { url: 'https://x', secret: shortSecret } }) },
        /entry "acme": the secret must be whsec_ .* at least 24/,
      ],
      [
        { WEBHOOKS: hooks({ acme: { url: 'https://x', secret: 'whsec_not*base64*at*all*here!!' } }) },
        /entry "acme": the secret/,
      ],
      [
        { WEBHOOKS: hooks({ acme: { url: 'https://x' } }) },
        /entry "acme" has no secret and WEBHOOK_SECRET is not set/,
      ],
      [
        { WEBHOOKS: hooks({ acme: { url: 'https://x', secret: SECRET_A, urls: [] } }) },
        /entry "acme": unknown field\(s\) urls/,
      ],
      [
        { WEBHOOKS: hooks({ 'a b': { url: 'https://x', secret: SECRET_A } }) },
        /entry "a b": the tenant must be/,
      ],
      [{ WEBHOOK_SECRET: shortSecret }, /WEBHOOK_SECRET: the secret must be whsec_/],
      [{ WEBHOOK_RETRY_SCHEDULE: '0,5m' }, /WEBHOOK_RETRY_SCHEDULE lists the seconds/],
      [{ WEBHOOK_RETRY_SCHEDULE: '' + ',' }, /WEBHOOK_RETRY_SCHEDULE/],
      [{ WEBHOOK_TIMEOUT_MS: '0' }, /WEBHOOK_TIMEOUT_MS must be between/],
      [{ WEBHOOK_SECRET_ROTATION_GRACE_SECONDS: '-1' }, /WEBHOOK_SECRET_ROTATION_GRACE_SECONDS must be/],
    ];
    for (const [env, expected] of cases) {
      const message = refusal(env);
      expect({ env, message }).toEqual({ env, message: expect.stringMatching(expected) });
      for (const secret of [SECRET_A, shortSecret, 'plain-text-secret-1234567890'])
        expect(message).not.toContain(secret.slice(6));
    }
  });
});

describe('loadConfig: upstream sources', () => {
  it('has no file, no discovery and no endpoint list by default, and resolves every 5 s', () => {
    const config = loadConfig({});
    expect(config.upstreamsFile).toBeUndefined();
    expect(config.vllmDiscovery).toBeUndefined();
    expect(config.vllmEndpoints).toEqual([]);
    expect(config.vllmDiscoveryIntervalMs).toBe(5000);
  });

  it('reads VLLM_ENDPOINTS as normalised base URLs, skipping empty entries', () => {
    expect(
      loadConfig({ VLLM_ENDPOINTS: ' http://VLLM-A:8000/v1/ , https://vllm-b.example.com/team/v1,' })
        .vllmEndpoints,
    ).toEqual(['http://vllm-a:8000/v1', 'https://vllm-b.example.com/team/v1']);
  });

  it('refuses a bad VLLM_ENDPOINTS entry, naming it by position', () => {
    expect(refusal({ VLLM_ENDPOINTS: 'http://a:8000/v1,http://b:8000' })).toMatch(
      /^VLLM_ENDPOINTS entry #2 must be vLLM's OpenAI base URL ending in \/v1/,
    );
    expect(refusal({ VLLM_ENDPOINTS: 'vllm-a:8000/v1' })).toMatch(
      /^VLLM_ENDPOINTS entry #1 must use http: or https:/,
    );
    expect(refusal({ VLLM_ENDPOINTS: 'http://a:8000/v1,,not a url' })).toMatch(
      /^VLLM_ENDPOINTS entry #3 must be an http:\/\/ or https:\/\/ URL/,
    );
    expect(refusal({ VLLM_ENDPOINTS: 'http://a:8000/v1,http://A:8000/v1/' })).toBe(
      'VLLM_ENDPOINTS entry #2 is the same endpoint as entry #1 (http://a:8000/v1)',
    );
    const withKey = refusal({ VLLM_ENDPOINTS: 'http://token:sk-live-123@a:8000/v1' });
    expect(withKey).toMatch(/^VLLM_ENDPOINTS entry #1 must not hold credentials/);
    expect(withKey).not.toContain('sk-live-123');
  });

  it('reads VLLM_DISCOVERY and its interval, refusing a bad one by name', () => {
    const config = loadConfig({
      VLLM_DISCOVERY: 'dns:vllm-headless:8000/v1',
      VLLM_DISCOVERY_INTERVAL_MS: '2000',
    });
    expect(config.vllmDiscovery).toEqual({ host: 'vllm-headless', port: 8000 });
    expect(config.vllmDiscoveryIntervalMs).toBe(2000);
    expect(refusal({ VLLM_DISCOVERY: 'vllm-headless:8000' })).toMatch(/^VLLM_DISCOVERY must look like dns:/);
    expect(refusal({ VLLM_DISCOVERY: 'dns:vllm-headless:99999' })).toMatch(
      /^VLLM_DISCOVERY port must be 1-65535/,
    );
    expect(refusal({ VLLM_DISCOVERY_INTERVAL_MS: '10' })).toMatch(
      /^VLLM_DISCOVERY_INTERVAL_MS must be between 100/,
    );
  });

  it('reads VLLM_DISCOVERY_NAMESERVER as a DNS server IP with an optional port', () => {
    expect(loadConfig({}).vllmDiscoveryNameserver).toBeUndefined();
    for (const ok of ['10.96.0.10', '10.96.0.10:53', '127.0.0.1:5353', 'fd00::a', '[fd00::a]:53'])
      expect(loadConfig({ VLLM_DISCOVERY_NAMESERVER: ` ${ok} ` }).vllmDiscoveryNameserver).toBe(ok);
    for (const bad of [
      'kube-dns.kube-system',
      '10.96.0.10:53:1',
      '10.96.0',
      '[kube-dns]:53',
      'udp://10.0.0.1',
    ])
      expect(refusal({ VLLM_DISCOVERY_NAMESERVER: bad })).toMatch(
        /^VLLM_DISCOVERY_NAMESERVER must be a DNS server's IP address with an optional port/,
      );
    expect(refusal({ VLLM_DISCOVERY_NAMESERVER: '10.96.0.10:0' })).toBe(
      'VLLM_DISCOVERY_NAMESERVER port must be 1-65535, got "0"',
    );
    expect(refusal({ VLLM_DISCOVERY_NAMESERVER: '[fd00::a]:99999' })).toMatch(/port must be 1-65535/);
  });

  it('takes UPSTREAMS_FILE as a path, read by the worker (an API process need not have it)', () => {
    expect(loadConfig({ UPSTREAMS_FILE: '/etc/vllm-batch/upstreams.yaml' }).upstreamsFile).toBe(
      '/etc/vllm-batch/upstreams.yaml',
    );
  });
});

describe('loadConfig: secrets encryption key', () => {
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 251) % 256));

  it('is absent by default: nothing secret can be stored in the database then', () => {
    expect(loadConfig({}).secretsEncryptionKey).toBeUndefined();
  });

  it('takes 32 bytes as 64 hex characters, or as base64 in either alphabet, padded or not', () => {
    const spellings = [
      key.toString('hex'),
      key.toString('hex').toUpperCase(),
      key.toString('base64'),
      key.toString('base64').replace(/=$/, ''),
      key.toString('base64url'),
      ` ${key.toString('base64')} `,
    ];
    for (const SECRETS_ENCRYPTION_KEY of spellings)
      expect({
        SECRETS_ENCRYPTION_KEY,
        key: loadConfig({ SECRETS_ENCRYPTION_KEY }).secretsEncryptionKey,
      }).toEqual({ SECRETS_ENCRYPTION_KEY, key });
  });

  it('refuses anything that is not 32 bytes, saying how to make one and never repeating the value', () => {
    const bad = [
      key.subarray(0, 16).toString('base64'),
      Buffer.concat([key, key]).toString('base64'),
      key.subarray(0, 31).toString('hex'),
      'correct horse battery staple — clé secrète 🔑',
      key.toString('base64').replace(/[A-Za-z]/, '*'),
    ];
    for (const SECRETS_ENCRYPTION_KEY of bad) {
      const message = refusal({ SECRETS_ENCRYPTION_KEY });
      expect(message).toMatch(/SECRETS_ENCRYPTION_KEY must be 32 random bytes/);
      expect(message).toMatch(/openssl rand -base64 32/);
      expect(message).not.toContain(SECRETS_ENCRYPTION_KEY);
    }
  });
});
