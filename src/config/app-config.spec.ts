import { ConfigError, loadConfig, loadDatabaseConfig } from './app-config';

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
  it('refuses a production start with an empty API_KEYS, saying why and what to set', () => {
    for (const keys of [undefined, '', '  ']) {
      const env: Record<string, string> = { NODE_ENV: 'production' };
      if (keys !== undefined) env.API_KEYS = keys;
      const message = refusal(env);
      expect(message).toMatch(/API_KEYS is empty and NODE_ENV=production/);
      expect(message).toMatch(/ALLOW_OPEN_ACCESS=true/);
    }
    expect(refusal({ NODE_ENV: 'production', APP_ROLE: 'api' })).toMatch(/API_KEYS is empty/);
  });

  it('runs open in production only when ALLOW_OPEN_ACCESS=true says so', () => {
    const config = loadConfig({ NODE_ENV: 'production', ALLOW_OPEN_ACCESS: 'true' });
    expect(config.apiKeys).toEqual([]);
    expect(config.allowOpenAccess).toBe(true);
    expect(refusal({ NODE_ENV: 'production', ALLOW_OPEN_ACCESS: 'false' })).toMatch(/API_KEYS is empty/);
    expect(refusal({ NODE_ENV: 'production', ALLOW_OPEN_ACCESS: 'maybe' })).toMatch(
      /ALLOW_OPEN_ACCESS must be true or false/,
    );
  });

  it('lets a worker-only process start without keys in production: it serves no API', () => {
    expect(loadConfig({ NODE_ENV: 'production', APP_ROLE: 'worker' }).apiKeys).toEqual([]);
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
