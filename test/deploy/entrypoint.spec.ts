/**
 * docker/entrypoint.sh, run as the image runs it (its ENTRYPOINT, read from the Dockerfile) with a
 * fake cgroup memory file in place of the container's: the node it starts must get a heap cap that
 * fits the memory limit, and V8 must actually use it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DOCKER_DIR, imageCommand, ROOT } from './compose-checks';

const MB = 1024 * 1024;
const IMAGE = imageCommand(readFileSync(path.join(DOCKER_DIR, 'Dockerfile'), 'utf8'));
/** The image's WORKDIR /app is this repository. */
const ENTRYPOINT = IMAGE.entrypoint.map((a) => a.replace(/^\/app\//, `${ROOT}/`));
const REPORT =
  'console.log(JSON.stringify({argv: process.execArgv, heapLimit: v8.getHeapStatistics().heap_size_limit}))';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vllm-batch-entrypoint-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cgroupFile(content: string): string {
  const file = path.join(dir, `memory-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, `${content}\n`);
  return file;
}

function run(args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(ENTRYPOINT[0], [...ENTRYPOINT.slice(1), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** What the node started through the entrypoint saw: its flags and V8's heap limit in MB. */
function nodeUnder(env: Record<string, string>): {
  heapFlag: string | undefined;
  semiFlag: string | undefined;
  heapLimitMb: number;
} {
  const res = run(['node', '-e', REPORT], env);
  expect(res).toMatchObject({ code: 0, stderr: '' });
  const { argv, heapLimit } = JSON.parse(res.stdout) as { argv: string[]; heapLimit: number };
  return {
    heapFlag: argv.find((a) => a.startsWith('--max-old-space-size')),
    semiFlag: argv.find((a) => a.startsWith('--max-semi-space-size')),
    heapLimitMb: heapLimit / MB,
  };
}

describe('docker/entrypoint.sh', () => {
  it('is the image ENTRYPOINT, in front of the node CMD', () => {
    expect(IMAGE.entrypoint).toEqual(['/app/docker/entrypoint.sh']);
    expect(IMAGE.cmd).toEqual(['node', 'dist/src/main.js']);
  });

  it('caps the heap at 75% of the cgroup v2 limit minus 64 MB, and V8 takes the cap', () => {
    const seen = nodeUnder({ CGROUP_MEMORY_MAX_FILE: cgroupFile(String(512 * MB)) });
    expect(seen.heapFlag).toBe('--max-old-space-size=336');
    // heap_size_limit is the old space plus the young generation: three semi-spaces of 512/32 MB.
    expect(seen.semiFlag).toBe('--max-semi-space-size=16');
    expect(seen.heapLimitMb).toBe(336 + 3 * 16);
  });

  it('reads a cgroup v1 limit the same way', () => {
    expect(nodeUnder({ CGROUP_MEMORY_MAX_FILE: cgroupFile(String(2048 * MB)) }).heapFlag).toBe(
      '--max-old-space-size=1488',
    );
  });

  it('gives the young generation 32 MB semi-spaces from a 1 GiB limit up, less below, and V8 takes them', () => {
    const big = nodeUnder({ CGROUP_MEMORY_MAX_FILE: cgroupFile(String(2048 * MB)) });
    expect(big.semiFlag).toBe('--max-semi-space-size=32');
    expect(big.heapLimitMb).toBe(1488 + 3 * 32);
    expect(nodeUnder({ CGROUP_MEMORY_MAX_FILE: cgroupFile(String(1024 * MB)) }).semiFlag).toBe(
      '--max-semi-space-size=32',
    );
    expect(nodeUnder({ CGROUP_MEMORY_MAX_FILE: cgroupFile(String(100 * MB)) }).semiFlag).toBe(
      '--max-semi-space-size=3',
    );
    // No limit: as `npm start`.
    expect(nodeUnder({ CGROUP_MEMORY_MAX_FILE: cgroupFile('max') }).semiFlag).toBe(
      '--max-semi-space-size=32',
    );
  });

  it('lets NODE_SEMI_SPACE_MB override the young generation, and refuses a malformed one', () => {
    const limit = cgroupFile(String(2048 * MB));
    const seen = nodeUnder({ CGROUP_MEMORY_MAX_FILE: limit, NODE_SEMI_SPACE_MB: '8' });
    expect(seen.semiFlag).toBe('--max-semi-space-size=8');
    expect(seen.heapLimitMb).toBe(1488 + 3 * 8);
    const bad = run(['node', '-e', REPORT], { CGROUP_MEMORY_MAX_FILE: limit, NODE_SEMI_SPACE_MB: '8MB' });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/NODE_SEMI_SPACE_MB must be a whole number of MB/);
  });

  it("falls back to npm start's 192 MB without a limit (v2 max, v1 'unlimited', no file)", () => {
    for (const file of [cgroupFile('max'), cgroupFile('9223372036854771712'), path.join(dir, 'none')]) {
      expect(nodeUnder({ CGROUP_MEMORY_MAX_FILE: file }).heapFlag).toBe('--max-old-space-size=192');
    }
  });

  it('keeps a floor of 64 MB under a tiny limit', () => {
    expect(nodeUnder({ CGROUP_MEMORY_MAX_FILE: cgroupFile(String(100 * MB)) }).heapFlag).toBe(
      '--max-old-space-size=64',
    );
  });

  it('lets NODE_HEAP_MB override the derived cap, and refuses a malformed one', () => {
    const limit = cgroupFile(String(512 * MB));
    const seen = nodeUnder({ CGROUP_MEMORY_MAX_FILE: limit, NODE_HEAP_MB: '300' });
    expect(seen.heapFlag).toBe('--max-old-space-size=300');
    expect(seen.heapLimitMb).toBeGreaterThanOrEqual(300);
    const bad = run(['node', '-e', REPORT], { CGROUP_MEMORY_MAX_FILE: limit, NODE_HEAP_MB: '300m' });
    expect(bad.code).toBe(78);
    expect(bad.stderr).toMatch(/NODE_HEAP_MB must be a whole number of MB, got "300m"/);
  });

  it('leaves the flags the command already sets, and runs other commands unchanged', () => {
    const limit = cgroupFile(String(512 * MB));
    const argvOf = (args: string[], env: Record<string, string> = {}) =>
      (JSON.parse(run(args, { CGROUP_MEMORY_MAX_FILE: limit, ...env }).stdout) as { argv: string[] }).argv;
    expect(argvOf(['node', '--max-old-space-size=99', '-e', REPORT])).toEqual([
      '--max-semi-space-size=16',
      '--max-old-space-size=99',
      '-e',
      REPORT,
    ]);
    expect(argvOf(['node', '--max-semi-space-size=4', '--max-old-space-size=99', '-e', REPORT])).toEqual([
      '--max-semi-space-size=4',
      '--max-old-space-size=99',
      '-e',
      REPORT,
    ]);
    expect(argvOf(['node', '-e', REPORT], { NODE_OPTIONS: '--max-old-space-size=99' })).toEqual([
      '--max-semi-space-size=16',
      '-e',
      REPORT,
    ]);
    expect(
      argvOf(['node', '-e', REPORT], { NODE_OPTIONS: '--max-old-space-size=99 --max-semi-space-size=4' }),
    ).toEqual(['-e', REPORT]);
    expect(run(['printf', '%s|', 'a', 'b c'], { CGROUP_MEMORY_MAX_FILE: limit })).toEqual({
      code: 0,
      stdout: 'a|b c|',
      stderr: '',
    });
  });
});
