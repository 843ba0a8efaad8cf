import { Logger } from '@nestjs/common';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/platform/config/app-config';
import { createUpstreamSource, UpstreamSpec } from '../../src/worker/upstream/sources';

const quiet = () => {
  const logger = new Logger('test');
  jest.spyOn(logger, 'log').mockImplementation(() => undefined);
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  return logger;
};

async function firstList(env: Record<string, string>, resolve4 = async () => ['10.0.0.7']) {
  const source = createUpstreamSource(loadConfig(env), { resolve4, logger: quiet(), env: {} });
  let seen: UpstreamSpec[] | null = null;
  await source.start((specs) => (seen = specs));
  await source.stop();
  return { kind: source.kind, specs: seen as UpstreamSpec[] | null, describe: source.describe() };
}

describe('upstream sources: exactly one, in order', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'upstreams-'));
    file = join(dir, 'upstreams.yaml');
    writeFileSync(file, 'endpoints:\n  - url: http://from-file:8000/v1\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const all = () => ({
    UPSTREAMS_FILE: file,
    VLLM_DISCOVERY: 'dns:vllm-headless:8000',
    VLLM_ENDPOINTS: 'http://list-a:8000/v1,http://list-b:8000/v1',
    VLLM_BASE_URL: 'http://single:8000/v1',
    VLLM_METRICS_URL: 'http://single:9090/metrics',
    VLLM_API_KEY: 'shared-key-0001',
  });

  it('UPSTREAMS_FILE wins over everything, and says which settings it ignores', async () => {
    const { kind, specs, describe } = await firstList(all());
    expect(kind).toBe('file');
    expect(specs).toEqual([
      {
        url: 'http://from-file:8000/v1',
        apiKey: 'shared-key-0001',
        metricsUrl: 'http://from-file:8000/metrics',
      },
    ]);
    expect(describe).toBe(
      `UPSTREAMS_FILE ${file} (1 endpoint); ignored: VLLM_DISCOVERY, VLLM_ENDPOINTS, VLLM_METRICS_URL`,
    );
    expect(describe).not.toContain('shared-key-0001');
  });

  it('then VLLM_DISCOVERY, each A record an http://<ip>:<port>/v1 replica', async () => {
    const { UPSTREAMS_FILE: _, ...env } = all();
    const { kind, specs, describe } = await firstList(env);
    expect(kind).toBe('dns');
    expect(specs).toEqual([
      {
        url: 'http://10.0.0.7:8000/v1',
        apiKey: 'shared-key-0001',
        metricsUrl: 'http://10.0.0.7:8000/metrics',
      },
    ]);
    expect(describe).toBe(
      'VLLM_DISCOVERY dns:vllm-headless:8000 every 5000 ms (1 endpoint); ignored: VLLM_ENDPOINTS, VLLM_METRICS_URL',
    );
  });

  it('then VLLM_ENDPOINTS, VLLM_API_KEY for all and each metrics page at its own server', async () => {
    const { UPSTREAMS_FILE: _, VLLM_DISCOVERY: __, ...env } = all();
    const { kind, specs, describe } = await firstList(env);
    expect(kind).toBe('list');
    expect(specs).toEqual([
      { url: 'http://list-a:8000/v1', apiKey: 'shared-key-0001', metricsUrl: 'http://list-a:8000/metrics' },
      { url: 'http://list-b:8000/v1', apiKey: 'shared-key-0001', metricsUrl: 'http://list-b:8000/metrics' },
    ]);
    expect(describe).toBe(
      'VLLM_ENDPOINTS http://list-a:8000/v1, http://list-b:8000/v1 (2 endpoints); ignored: VLLM_METRICS_URL',
    );
  });

  it('else VLLM_BASE_URL alone with VLLM_METRICS_URL, as before', async () => {
    const { kind, specs, describe } = await firstList({
      VLLM_BASE_URL: 'http://single:8000/v1/',
      VLLM_METRICS_URL: 'http://single:9090/metrics',
    });
    expect(kind).toBe('single');
    expect(specs).toEqual([{ url: 'http://single:8000/v1', metricsUrl: 'http://single:9090/metrics' }]);
    expect(describe).toBe('VLLM_BASE_URL http://single:8000/v1');
    expect((await firstList({})).specs).toEqual([
      { url: 'http://127.0.0.1:8000/v1', metricsUrl: 'http://127.0.0.1:8000/metrics' },
    ]);
  });

  it('refuses to start on an invalid UPSTREAMS_FILE or one that cannot be read', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'endpoints:\n  - url: http://a:8000\n');
    await expect(firstList({ UPSTREAMS_FILE: bad })).rejects.toThrow(/^UPSTREAMS_FILE endpoints\[0\]\.url: /);
    await expect(firstList({ UPSTREAMS_FILE: join(dir, 'missing.yaml') })).rejects.toThrow(
      /^UPSTREAMS_FILE .*missing\.yaml: cannot read it \(ENOENT/,
    );
  });

  it('resolves api_key_env from the environment it is given', async () => {
    const keyed = join(dir, 'keyed.yaml');
    writeFileSync(keyed, 'endpoints:\n  - url: http://a:8000/v1\n    api_key_env: TEAM_A_VLLM_KEY\n');
    const source = createUpstreamSource(loadConfig({ UPSTREAMS_FILE: keyed }), {
      env: { TEAM_A_VLLM_KEY: 'team-a-key-0001' },
      logger: quiet(),
    });
    let seen: UpstreamSpec[] = [];
    await source.start((specs) => (seen = specs));
    await source.stop();
    expect(seen.map((s) => s.apiKey)).toEqual(['team-a-key-0001']);
  });
});
