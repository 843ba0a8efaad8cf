/**
 * Real processes for the reliability suite: the built service (any APP_ROLE), the built vLLM
 * simulator, a private redis-server and a private PostgreSQL cluster, each on a free port, each
 * killed by `killAll()` whatever happened in the test. Output goes to a log file per process, kept
 * on failure for diagnosis (path printed), so a test can also grep a process's log (e.g. to prove
 * an API key never reaches it).
 *
 * Spawned processes run dist/ (what `npm start` and the image run). `ensureBuilt()` rebuilds it
 * once when it is missing or older than the sources, so `npx jest test/reliability` works on a fresh
 * checkout; set RELIABILITY_NO_BUILD=1 to fail instead (CI builds right before the tests), or
 * RELIABILITY_DIST=<dir> to run another build of the tree as it is.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, statSync, WriteStream } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');
/** RELIABILITY_DIST points at another build of the same tree (used as is, never rebuilt). */
const CUSTOM_DIST = process.env.RELIABILITY_DIST ? resolve(process.env.RELIABILITY_DIST) : null;
export const DIST = CUSTOM_DIST ?? join(ROOT, 'dist');
const SERVICE_MAIN = join(DIST, 'src', 'main.js');
const SIMULATOR_MAIN = join(DIST, 'simulator', 'main.js');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function until<T>(
  check: () => T | Promise<T>,
  timeoutMs: number,
  what: string,
  everyMs = 100,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${(lastError as Error).message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Build

function newestMtime(dir: string, filter: (name: string) => boolean): number {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p, filter));
    else if (filter(entry.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

const isSource = (name: string): boolean => name.endsWith('.ts') && !name.endsWith('.spec.ts');

function buildIsStale(): string | null {
  for (const f of [SERVICE_MAIN, SIMULATOR_MAIN]) if (!existsSync(f)) return `${f} is missing`;
  const built = Math.min(statSync(SERVICE_MAIN).mtimeMs, statSync(SIMULATOR_MAIN).mtimeMs);
  const sources = Math.max(
    ...['src', 'simulator', 'migrations'].map((d) => newestMtime(join(ROOT, d), isSource)),
  );
  return sources > built ? 'dist/ is older than the sources' : null;
}

let buildChecked = false;

/** Makes sure dist/ holds the current code: rebuilds once (≈5 s) or, with RELIABILITY_NO_BUILD=1, fails. */
export function ensureBuilt(): void {
  if (buildChecked) return;
  if (CUSTOM_DIST) {
    if (!existsSync(SERVICE_MAIN)) throw new Error(`RELIABILITY_DIST=${CUSTOM_DIST} holds no src/main.js`);
    buildChecked = true;
    return;
  }
  const stale = buildIsStale();
  if (stale) {
    if (process.env.RELIABILITY_NO_BUILD === '1') {
      throw new Error(
        `The reliability tests run the built service, but ${stale}: run \`npm run build\` first.`,
      );
    }
    const res = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
    if (res.status !== 0) {
      throw new Error(`${stale} and \`npm run build\` failed:\n${res.stdout}\n${res.stderr}`);
    }
  }
  buildChecked = true;
}

// ---------------------------------------------------------------------------------------------
// Processes

/** A port nothing listens on right now (bound by us, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

let logDir: string | null = null;
async function logDirectory(): Promise<string> {
  if (!logDir) {
    // Logs are kept for diagnosis, for a day.
    for (const name of readdirSync(tmpdir())) {
      const path = join(tmpdir(), name);
      if (
        name.startsWith('vllm-batch-reliability-logs-') &&
        Date.now() - statSync(path).mtimeMs > 86_400_000
      ) {
        await rm(path, { recursive: true, force: true });
      }
    }
    logDir = await mkdtemp(join(tmpdir(), 'vllm-batch-reliability-logs-'));
  }
  return logDir;
}

const live = new Set<ManagedProcess>();

/** One spawned child, its output teed to a log file. */
export class ManagedProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
    private readonly log: WriteStream,
  ) {
    this.exited = new Promise((r) =>
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(this);
        r(this.exitInfo);
      }),
    );
    live.add(this);
  }

  static async spawn(
    name: string,
    command: string,
    args: string[],
    env: Record<string, string | undefined>,
  ): Promise<ManagedProcess> {
    const file = join(await logDirectory(), `${name}-${Date.now()}.log`);
    const log = createWriteStream(file);
    const child = spawn(command, args, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.once('exit', () => setTimeout(() => log.end(), 50));
    return new ManagedProcess(name, child, file, log);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  /** Everything the process wrote so far (stdout and stderr). */
  output(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Kills every process this test file spawned that is still alive (SIGKILL; for afterAll/afterEach),
 * except those in `keep` (e.g. a simulator shared by several describe blocks).
 */
export async function killAll(keep: ManagedProcess[] = []): Promise<void> {
  const all = [...live].filter((p) => !keep.includes(p));
  for (const p of all) p.kill('SIGKILL');
  await Promise.all(all.map((p) => p.exited));
}

// Last resort if jest itself dies between tests: never leave orphans behind.
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

async function waitHttpOk(url: string, timeoutMs: number, proc?: ManagedProcess): Promise<void> {
  await until(
    async () => {
      if (proc && !proc.running) {
        throw new Error(`${proc.name} exited during start:\n${proc.output().slice(-4000)}`);
      }
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return res.ok;
    },
    timeoutMs,
    `${url} to answer 200`,
    100,
  ).catch((err: Error) => {
    // The process died: that error says why, not the timeout.
    if (proc && !proc.running)
      throw new Error(`${proc.name} exited during start:\n${proc.output().slice(-4000)}`);
    throw err;
  });
}

// ---------------------------------------------------------------------------------------------
// The service and the simulator

export type Role = 'api' | 'worker' | 'all';

export interface ServiceProcess {
  proc: ManagedProcess;
  role: Role;
  /** HTTP base of the API (api/all) or of the worker's metrics/health listener (worker). */
  url: string;
  /** HTTP base of the admin surface (ADMIN_PORT; served by api/all when ADMIN_USER is set). */
  adminUrl: string;
  /** Prometheus text of its /metrics (worker: its own listener; api/all: the API port). */
  metrics(): Promise<string>;
}

export async function startService(
  role: Role,
  env: Record<string, string>,
  name: string = role,
  heapMb = 192,
): Promise<ServiceProcess> {
  ensureBuilt();
  const port = await freePort();
  const metricsPort = await freePort();
  const adminPort = await freePort();
  const proc = await ManagedProcess.spawn(
    name,
    process.execPath,
    [`--max-old-space-size=${heapMb}`, SERVICE_MAIN],
    {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      // A debugging aid: e.g. RELIABILITY_NODE_OPTIONS="--require ./trace.js" for the service processes.
      NODE_OPTIONS: process.env.RELIABILITY_NODE_OPTIONS,
      ...env,
      APP_ROLE: role,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      ADMIN_PORT: String(adminPort),
    },
  );
  const url = `http://127.0.0.1:${role === 'worker' ? metricsPort : port}`;
  await waitHttpOk(`${url}/health`, 60_000, proc);
  const token = env.METRICS_AUTH_TOKEN;
  return {
    proc,
    role,
    url,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    async metrics() {
      const res = await fetch(`${url}/metrics`, {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.timeout(5000),
      });
      return res.text();
    },
  };
}

/** The value of one Prometheus sample (first match of `name{...}`), or 0. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

export interface SimStats {
  received: number;
  completed: number;
  failedInjected: number;
  aborted: number;
  injectedHangs: number;
  outageRejected: number;
  droppedByOutage: number;
  rejected: number;
  inFlight: number;
  maxInFlight: number;
  byEndpoint: Record<string, number>;
}

export interface SimulatorProcess {
  proc: ManagedProcess;
  /** http://127.0.0.1:PORT */
  base: string;
  /** VLLM_BASE_URL for the service: base + /v1 */
  url: string;
  stats(): Promise<SimStats>;
  reset(): Promise<void>;
  setFaults(faults: Record<string, unknown>): Promise<void>;
  setOptions(options: Record<string, unknown>): Promise<void>;
}

export async function startSimulator(
  env: Record<string, string> = {},
  name = 'sim',
): Promise<SimulatorProcess> {
  ensureBuilt();
  const port = await freePort();
  const proc = await ManagedProcess.spawn(name, process.execPath, [SIMULATOR_MAIN], {
    PATH: process.env.PATH,
    ...env,
    SIM_PORT: String(port),
  });
  const base = `http://127.0.0.1:${port}`;
  await waitHttpOk(`${base}/health`, 30_000, proc);
  const post = async (path: string, body: unknown): Promise<void> => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`simulator ${path}: ${res.status} ${await res.text()}`);
  };
  return {
    proc,
    base,
    url: `${base}/v1`,
    async stats() {
      return (await (await fetch(`${base}/sim/stats`)).json()) as SimStats;
    },
    reset: () => post('/sim/reset', {}),
    setFaults: (faults) => post('/sim/faults', faults),
    setOptions: (options) => post('/sim/options', options),
  };
}

/** Resident memory of a process from /proc (VmRSS, VmHWM), in MB: the benchmarks' own reader. */
export { memoryOf } from '../../bench/harness';

// ---------------------------------------------------------------------------------------------
// A private Redis (for restart tests: never the machine's own on 6379)

export class PrivateRedis {
  private proc: ManagedProcess | null = null;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.spawn();
    return redis;
  }

  private async spawn(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    this.proc = await ManagedProcess.spawn('redis', 'redis-server', args, { PATH: process.env.PATH });
    await until(
      () => {
        if (!this.proc?.running) throw new Error(`redis-server exited: ${this.proc?.output()}`);
        const r = spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8' });
        return r.stdout?.trim() === 'PONG';
      },
      10_000,
      `redis-server on :${this.port}`,
      50,
    );
  }

  /** Kills it (SIGKILL: it keeps nothing on disk, so every key is gone), waits `downMs`, starts it again. */
  async restart(downMs = 0): Promise<void> {
    await this.kill();
    if (downMs > 0) await sleep(downMs);
    await this.spawn();
  }

  async kill(): Promise<void> {
    if (this.proc) {
      this.proc.kill('SIGKILL');
      await this.proc.exited;
    }
    this.proc = null;
  }

  dbsize(): number {
    const r = spawnSync('redis-cli', ['-p', String(this.port), 'dbsize'], { encoding: 'utf8' });
    return Number(r.stdout.trim());
  }
}

// ---------------------------------------------------------------------------------------------
// A private PostgreSQL cluster (for the restart test: never the machine's own)

/** PG_BIN, else the newest /usr/lib/postgresql/<version>/bin (Debian's layout). */
function findPgBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => /^\d+$/.test(v))
        .sort((x, y) => Number(y) - Number(x))
    : [];
  return join(base, versions[0] ?? '15', 'bin');
}
const PG_BIN = findPgBin();

export const hasPrivatePostgres = (): boolean => existsSync(join(PG_BIN, 'initdb'));

/** initdb + pg_ctl in a temp dir, as user postgres when we are root (PostgreSQL refuses to run as root). */
export class PrivatePostgres {
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}`;
  }

  private static asPostgres(cmd: string, args: string[]): { status: number | null; output: string } {
    const isRoot = process.getuid?.() === 0;
    const r = isRoot
      ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' })
      : spawnSync(cmd, args, { encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  }

  static async start(): Promise<PrivatePostgres> {
    const dir = await mkdtemp(join(tmpdir(), 'vllm-batch-pg-'));
    const pg = new PrivatePostgres(await freePort(), dir);
    await mkdir(join(dir, 'data'));
    await chmod(dir, 0o755);
    if (process.getuid?.() === 0) {
      const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
      const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
      await chown(dir, uid, gid);
      await chown(join(dir, 'data'), uid, gid);
    }
    const init = PrivatePostgres.asPostgres(join(PG_BIN, 'initdb'), [
      '-D',
      join(dir, 'data'),
      '-U',
      'postgres',
      '--auth=trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    if (init.status !== 0) throw new Error(`initdb failed: ${init.output}`);
    pg.startServer();
    return pg;
  }

  private startServer(): void {
    const opts = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    const r = PrivatePostgres.asPostgres(join(PG_BIN, 'pg_ctl'), [
      '-D',
      join(this.dir, 'data'),
      '-l',
      join(this.dir, 'server.log'),
      '-o',
      opts,
      '-w',
      '-t',
      '30',
      'start',
    ]);
    if (r.status !== 0) throw new Error(`pg_ctl start failed: ${r.output}`);
  }

  /** `immediate` is a crash-like stop (no checkpoint, connections cut); `fast` a clean one. */
  stopServer(mode: 'immediate' | 'fast' = 'immediate'): void {
    PrivatePostgres.asPostgres(join(PG_BIN, 'pg_ctl'), [
      '-D',
      join(this.dir, 'data'),
      '-m',
      mode,
      '-w',
      'stop',
    ]);
  }

  async restart(downMs = 0, mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    this.stopServer(mode);
    if (downMs > 0) await sleep(downMs);
    this.startServer();
  }

  async destroy(): Promise<void> {
    this.stopServer('immediate');
    await rm(this.dir, { recursive: true, force: true });
  }
}
