import { Logger } from '@nestjs/common';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FileUpstreamSource, UpstreamSpec } from '../../src/worker/upstream/sources';
import { until } from '../support/harness/wait';

const HOUR = 3_600_000;

function recordingLogger() {
  const logger = new Logger('test');
  const warnings: string[] = [];
  const logs: string[] = [];
  jest.spyOn(logger, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
  jest.spyOn(logger, 'log').mockImplementation((m: unknown) => void logs.push(String(m)));
  return { logger, warnings, logs };
}

const yaml = (...urls: string[]) => `endpoints:\n${urls.map((u) => `  - url: ${u}\n`).join('')}`;
const urls = (specs: UpstreamSpec[] | undefined) => (specs ?? []).map((s) => s.url);

describe('UPSTREAMS_FILE: reloads', () => {
  let dir: string;
  let source: FileUpstreamSource | null = null;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'upstreams-'));
  });
  afterEach(async () => {
    await source?.stop();
    source = null;
    rmSync(dir, { recursive: true, force: true });
  });

  function open(
    path: string,
    options: { pollIntervalMs?: number; env?: NodeJS.ProcessEnv; signals?: EventEmitter } = {},
  ) {
    const log = recordingLogger();
    const lists: UpstreamSpec[][] = [];
    source = new FileUpstreamSource({
      path,
      defaults: { maxInflight: 512, env: options.env ?? {} },
      logger: log.logger,
      pollIntervalMs: options.pollIntervalMs ?? HOUR,
      debounceMs: 20,
      signals: options.signals,
    });
    return { ...log, lists, start: () => source!.start((specs) => lists.push(specs)) };
  }

  it('follows a Kubernetes ConfigMap update: the ..data symlink swapped in the watched directory', async () => {
    // The layout the kubelet writes: upstreams.yaml -> ..data/upstreams.yaml, ..data -> ..<timestamp>.
    mkdirSync(join(dir, '..2025_01_01_00_00_00.1'));
    writeFileSync(join(dir, '..2025_01_01_00_00_00.1', 'upstreams.yaml'), yaml('http://vllm-a:8000/v1'));
    symlinkSync('..2025_01_01_00_00_00.1', join(dir, '..data'));
    symlinkSync('..data/upstreams.yaml', join(dir, 'upstreams.yaml'));
    // No polling within the test: only the directory watch can see the change.
    const s = open(join(dir, 'upstreams.yaml'));
    await s.start();
    expect(s.lists.map(urls)).toEqual([['http://vllm-a:8000/v1']]);

    mkdirSync(join(dir, '..2025_01_01_00_05_00.2'));
    writeFileSync(
      join(dir, '..2025_01_01_00_05_00.2', 'upstreams.yaml'),
      yaml('http://vllm-a:8000/v1', 'http://vllm-b:8000/v1'),
    );
    symlinkSync('..2025_01_01_00_05_00.2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2025_01_01_00_00_00.1'), { recursive: true });

    await until(() => s.lists.length === 2, 10_000, 'the reload after the symlink swap');
    expect(urls(s.lists[1])).toEqual(['http://vllm-a:8000/v1', 'http://vllm-b:8000/v1']);
    expect(s.logs.join('\n')).toContain('added http://vllm-b:8000/v1');
    expect(source!.describe()).toBe(`UPSTREAMS_FILE ${join(dir, 'upstreams.yaml')} (2 endpoints)`);
  });

  it('follows a change no watch event reports, by comparing the content every few seconds', async () => {
    // A symlink to a file in another directory, edited in place: the watched directory sees nothing.
    mkdirSync(join(dir, 'real'));
    mkdirSync(join(dir, 'mounted'));
    const target = join(dir, 'real', 'upstreams.yaml');
    writeFileSync(target, yaml('http://vllm-a:8000/v1'));
    symlinkSync(target, join(dir, 'mounted', 'upstreams.yaml'));
    const s = open(join(dir, 'mounted', 'upstreams.yaml'), { pollIntervalMs: 50 });
    await s.start();
    writeFileSync(target, yaml('http://vllm-b:8000/v1'));
    await until(() => s.lists.length === 2, 10_000, 'the reload');
    expect(urls(s.lists[1])).toEqual(['http://vllm-b:8000/v1']);
    expect(s.logs.join('\n')).toMatch(/added http:\/\/vllm-b:8000\/v1; removed http:\/\/vllm-a:8000\/v1/);
  });

  it('follows a file rewritten in place in the watched directory', async () => {
    const path = join(dir, 'upstreams.yaml');
    writeFileSync(path, yaml('http://vllm-a:8000/v1'));
    const s = open(path);
    await s.start();
    writeFileSync(path, yaml('http://vllm-a:8000/v1', 'http://vllm-c:8000/v1'));
    await until(() => s.lists.length === 2, 10_000, 'the reload');
    expect(urls(s.lists[1])).toEqual(['http://vllm-a:8000/v1', 'http://vllm-c:8000/v1']);
  });

  it('reloads on a real SIGHUP, and the process lives on', async () => {
    // UPSTREAMS_FILE is a symlink to a file in another directory, edited in place: the watched
    // directory sees nothing and polling is off, so only the signal can make the process re-read.
    mkdirSync(join(dir, 'real'));
    mkdirSync(join(dir, 'mounted'));
    const target = join(dir, 'real', 'upstreams.yaml');
    writeFileSync(target, yaml('http://vllm-a:8000/v1'));
    symlinkSync(target, join(dir, 'mounted', 'upstreams.yaml'));
    const child = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        join(__dirname, 'fixtures', 'watch-upstreams.ts'),
        join(dir, 'mounted', 'upstreams.yaml'),
      ],
      { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
    const exited = new Promise<number | string | null>((r) =>
      child.on('exit', (code, signal) => r(signal ?? code)),
    );
    try {
      await until(() => lines.includes('ready'), 30_000, 'the child to start');
      expect(urls(JSON.parse(lines[0]))).toEqual(['http://vllm-a:8000/v1']);
      writeFileSync(target, yaml('http://vllm-a:8000/v1', 'http://vllm-b:8000/v1'));
      child.kill('SIGHUP');
      await until(() => lines.length === 3, 30_000, 'the list after SIGHUP');
      expect(urls(JSON.parse(lines[2]))).toEqual(['http://vllm-a:8000/v1', 'http://vllm-b:8000/v1']);
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('on SIGHUP reads again even unchanged content (what api_key_env names is looked up again)', async () => {
    const path = join(dir, 'upstreams.yaml');
    writeFileSync(path, 'endpoints:\n  - url: http://vllm-a:8000/v1\n    api_key_env: VLLM_A_KEY\n');
    const env: NodeJS.ProcessEnv = { VLLM_A_KEY: 'first-key-0001' };
    const signals = new EventEmitter();
    const s = open(path, { env, signals });
    await s.start();
    expect(s.lists[0][0].apiKey).toBe('first-key-0001');
    env.VLLM_A_KEY = 'second-key-0002';
    signals.emit('SIGHUP');
    await until(() => s.lists.length === 2, 10_000, 'the reload on SIGHUP');
    expect(s.lists[1][0].apiKey).toBe('second-key-0002');
    expect([...s.logs, ...s.warnings].join('\n')).not.toMatch(/first-key|second-key/);
  });

  it('refuses an invalid reload, keeping the endpoints in use and saying why once', async () => {
    const path = join(dir, 'upstreams.yaml');
    writeFileSync(path, yaml('http://vllm-a:8000/v1', 'http://vllm-b:8000/v1'));
    const s = open(path);
    await s.start();

    writeFileSync(path, yaml('http://vllm-a:8000/v1', 'http://vllm-b:8000'));
    await source!.reload();
    await source!.reload(); // the same bad content again (the next poll): no second warning
    expect(s.warnings).toEqual([
      "UPSTREAMS_FILE endpoints[1].url: must be vLLM's OpenAI base URL ending in /v1 (e.g. http://vllm:8000/v1), " +
        'got "http://vllm-b:8000/" — reload refused, keeping the 2 endpoints in use',
    ]);
    writeFileSync(path, 'endpoints: [');
    await source!.reload();
    expect(s.warnings[1]).toMatch(
      /^UPSTREAMS_FILE is not valid YAML: .* — reload refused, keeping the 2 endpoints in use$/,
    );
    rmSync(path);
    await source!.reload();
    expect(s.warnings[2]).toMatch(/cannot read it \(ENOENT.*keeping the 2 endpoints in use$/);
    expect(s.lists).toHaveLength(1);
    expect(source!.describe()).toMatch(/\(2 endpoints\)$/);

    writeFileSync(path, yaml('http://vllm-a:8000/v1'));
    await source!.reload();
    expect(s.lists.map(urls)).toEqual([
      ['http://vllm-a:8000/v1', 'http://vllm-b:8000/v1'],
      ['http://vllm-a:8000/v1'],
    ]);
  });

  it('calls back only when the list changed, not for comments, order or spelling', async () => {
    const path = join(dir, 'upstreams.yaml');
    writeFileSync(path, yaml('http://vllm-a:8000/v1', 'http://vllm-b:8000/v1'));
    const s = open(path);
    await s.start();
    writeFileSync(path, `# reordered\n${yaml('http://VLLM-B:8000/v1/', 'http://vllm-a:8000/v1')}`);
    await source!.reload();
    await source!.reload(true);
    expect(s.lists).toHaveLength(1);
    writeFileSync(
      path,
      `${yaml('http://vllm-a:8000/v1')}    max_inflight: 8\n  - url: http://vllm-b:8000/v1\n`,
    );
    await source!.reload();
    expect(s.lists).toHaveLength(2);
    expect(s.lists[1][0]).toEqual({
      url: 'http://vllm-a:8000/v1',
      metricsUrl: 'http://vllm-a:8000/metrics',
      maxInflight: 8,
    });
    expect(s.logs.join('\n')).toContain('changed http://vllm-a:8000/v1');
  });

  it('stops listening when stopped', async () => {
    const path = join(dir, 'upstreams.yaml');
    writeFileSync(path, yaml('http://vllm-a:8000/v1'));
    const s = open(path, { pollIntervalMs: 20 });
    const before = process.listenerCount('SIGHUP');
    await s.start();
    expect(process.listenerCount('SIGHUP')).toBe(before + 1);
    await source!.stop();
    expect(process.listenerCount('SIGHUP')).toBe(before);
    writeFileSync(path, yaml('http://vllm-b:8000/v1'));
    await source!.reload(true);
    expect(s.lists).toHaveLength(1);
  });
});
