/**
 * The image's commands run here as the image runs them: its ENTRYPOINT and CMD and its ENV, read
 * from docker/Dockerfile, with /app mapped to this repository's build (dist/) and a fake cgroup
 * memory limit. No Docker engine needed.
 */
import { builtinModules } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import {
  createTestEnv,
  ensureBuilt,
  freePort,
  killAll,
  ManagedProcess,
  TestEnv,
  until,
} from '../support/harness';
import { DOCKER_DIR, imageCommand, parseDockerfile, ROOT } from './compose-checks';

const DOCKERFILE = readFileSync(path.join(DOCKER_DIR, 'Dockerfile'), 'utf8');
const IMAGE = imageCommand(DOCKERFILE);
const fromApp = (a: string): string => a.replace(/^\/app\//, `${ROOT}/`);
/** A 512 MiB container (a cgroup v2 memory.max). */
const MEMORY_MAX_FILE = path.join(ROOT, 'test', 'fixtures', 'cgroup-memory.max-512Mi');

/** `docker run [--env ...] <image> [command...]`: the image's ENV, then the caller's. */
function runImage(name: string, env: Record<string, string>, command = IMAGE.cmd): Promise<ManagedProcess> {
  const [entry, ...entryArgs] = IMAGE.entrypoint.map(fromApp);
  return ManagedProcess.spawn(name, entry, [...entryArgs, ...command], {
    PATH: process.env.PATH,
    ...Object.fromEntries(IMAGE.env),
    CGROUP_MEMORY_MAX_FILE: MEMORY_MAX_FILE,
    LOG_LEVEL: 'info',
    ...env,
  });
}

async function exitOf(proc: ManagedProcess): Promise<{ code: number | null; output: string }> {
  const { code } = await proc.waitExit(30_000);
  await new Promise((r) => setTimeout(r, 100)); // the log file catches up with the last lines
  return { code, output: proc.output() };
}

beforeAll(() => ensureBuilt());
afterEach(() => killAll());

describe('the image refuses to serve an API anyone can use', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env.dispose());

  it('exits 78 with the reason when API_KEYS is empty in production', async () => {
    for (const role of ['api', 'all']) {
      const proc = await runImage(`open-${role}`, { ...env.env, APP_ROLE: role, API_KEYS: '' });
      const { code, output } = await exitOf(proc);
      expect({ role, code }).toEqual({ role, code: 78 });
      expect(output).toMatch(/API_KEYS is empty and NODE_ENV=production.*ALLOW_OPEN_ACCESS=true/);
    }
  });

  it("exits 78 when API_KEYS still holds the example Secret's CHANGE-ME key, without printing it", async () => {
    const proc = await runImage('placeholder', {
      ...env.env,
      APP_ROLE: 'api',
      API_KEYS: 'CHANGE-ME-tenant:CHANGE-ME-key',
    });
    const { code, output } = await exitOf(proc);
    expect(code).toBe(78);
    expect(output).toMatch(/API_KEYS entry #1 still holds the example placeholder CHANGE-ME/);
    expect(output).not.toContain('CHANGE-ME-key');
  });

  it('starts a worker without keys (it serves no API) and caps its heap from the memory limit', async () => {
    const metricsPort = await freePort();
    const proc = await runImage('worker', {
      ...env.env,
      APP_ROLE: 'worker',
      API_KEYS: '',
      METRICS_PORT: String(metricsPort),
    });
    await until(
      async () => {
        if (!proc.running) throw new Error(`worker exited:\n${proc.output()}`);
        return (await fetch(`http://127.0.0.1:${metricsPort}/health`)).ok;
      },
      60_000,
      'the worker to answer /health',
    );
    // The entrypoint exec'd node itself: the spawned pid is node, with the cap for 512 MiB.
    const argv = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    expect(argv.slice(1)).toEqual([
      '--max-old-space-size=336',
      '--max-semi-space-size=16',
      'dist/src/main.js',
    ]);
    expect(proc.output()).not.toMatch(/API is OPEN/);
    await proc.stop();
  });
});

describe('the migration command (the Job runs node dist/src/migrate.js through the entrypoint)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(() => env.dispose());

  const migrate = async (...args: string[]) =>
    exitOf(await runImage('migrate', env.env, ['node', 'dist/src/migrate.js', ...args]));

  async function schema(): Promise<{ migrations: string[]; tables: string[] }> {
    const db = new Client({ connectionString: env.databaseUrl });
    await db.connect();
    try {
      const tables = await db.query<{ t: string }>(
        `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
      );
      const migrations = tables.rows.some((r) => r.t === 'migrations')
        ? (await db.query<{ name: string }>('SELECT name FROM migrations ORDER BY id')).rows.map(
            (r) => r.name,
          )
        : [];
      return { migrations, tables: tables.rows.map((r) => r.t).filter((t) => t !== 'migrations') };
    } finally {
      await db.end();
    }
  }

  it('applies, reverts the last migration, and applies it again', async () => {
    const up = await migrate();
    expect(up).toMatchObject({ code: 0, output: expect.stringMatching(/Applied migrations: InitialSchema/) });
    const applied = await schema();
    expect(applied.tables).toEqual(expect.arrayContaining(['batch_requests', 'batches', 'files']));
    const last = applied.migrations[applied.migrations.length - 1];

    const revert = await migrate('revert');
    expect(revert).toMatchObject({
      code: 0,
      output: expect.stringContaining(`Reverted migrations: ${last}`),
    });
    const reverted = await schema();
    expect(reverted.migrations).toEqual(applied.migrations.slice(0, -1));

    // Reverting the rest removes the whole schema, the initial migration's tables included.
    const rest = reverted.migrations.length;
    if (rest > 0) {
      expect(await migrate('revert', '--steps', String(rest))).toMatchObject({
        code: 0,
        output: expect.stringContaining('Reverted migrations: '),
      });
    }
    expect(await schema()).toEqual({ migrations: [], tables: [] });
    expect(await migrate('revert', '--steps', '3')).toMatchObject({
      code: 0,
      output: expect.stringContaining('No migration to revert.'),
    });
    expect(await migrate('up')).toMatchObject({ code: 0, output: expect.stringContaining(last) });
    expect(await schema()).toEqual(applied);
  });

  it('answers a wrong invocation with its usage and exit code 64, touching nothing', async () => {
    expect((await migrate()).code).toBe(0);
    const before = await schema();
    for (const args of [['down'], ['revert', '--steps', '0'], ['revert', '--force']]) {
      const res = await migrate(...args);
      expect({ args, code: res.code }).toEqual({ args, code: 64 });
      expect(res.output).toMatch(/usage: node dist\/src\/migrate.js \[up \| revert \[--steps N\]\]/);
    }
    expect(await schema()).toEqual(before);
  });
});

describe("the vllm-batch command line, on the image's PATH", () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
    dependencies: Record<string, string>;
  };
  /** The final stage's `ln -s <target> <dir>/vllm-batch`. */
  const link = parseDockerfile(DOCKERFILE)
    .pop()!
    .instructions.filter((i) => i.op === 'RUN')
    .map((i) => /\bln -s (\S+) (\S+)\/vllm-batch\b/.exec(i.args))
    .find((m) => m !== null);
  let binDir: string;
  let workDir: string;

  beforeAll(() => {
    binDir = mkdtempSync(path.join(tmpdir(), 'image-bin-'));
    workDir = mkdtempSync(path.join(tmpdir(), 'image-cli-'));
    // As the image has it: a link in a PATH directory to the built file package.json's bin names.
    if (link) symlinkSync(fromApp(link[1]), path.join(binDir, 'vllm-batch'));
  });
  afterAll(() => {
    rmSync(binDir, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  });

  it("links package.json's bin into /usr/local/bin", () => {
    expect(link?.slice(1)).toEqual([`/app/${pkg.bin['vllm-batch']}`, '/usr/local/bin']);
  });

  it('runs through the entrypoint by its name: help, and a local validation', async () => {
    const run = async (...args: string[]) =>
      exitOf(await runImage('cli', { PATH: `${binDir}:${process.env.PATH}` }, ['vllm-batch', ...args]));
    const help = await run('--help');
    expect(help).toMatchObject({ code: 0, output: expect.stringContaining('Usage: vllm-batch') });

    const file = path.join(workDir, 'in.jsonl');
    const line = {
      custom_id: 'a',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'm', messages: [] },
    };
    writeFileSync(file, `${JSON.stringify(line)}\nnot json\n`);
    const invalid = await run('validate', file);
    expect(invalid).toMatchObject({ code: 1, output: expect.stringMatching(/line 2 +invalid_json_line/) });
  });

  it('needs only production dependencies (the image has no others)', () => {
    // Every module the built command loads, followed from its entry through relative requires.
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/\brequire\("([^"]+)"\)/g)) {
        if (spec.startsWith('.')) visit(require.resolve(path.resolve(path.dirname(file), spec)));
        else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) {
          packages.add(
            spec
              .split('/')
              .slice(0, spec.startsWith('@') ? 2 : 1)
              .join('/'),
          );
        }
      }
    };
    visit(path.join(ROOT, pkg.bin['vllm-batch']));
    expect([...packages].sort()).toEqual(expect.arrayContaining(['cli-progress', 'commander', 'openai']));
    expect([...packages].filter((p) => !(p in pkg.dependencies))).toEqual([]);
  });
});
