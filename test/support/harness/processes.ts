/**
 * Real processes for tests, benchmarks and the demo: the built service (any APP_ROLE) and the built
 * vLLM simulator, each on a free port (or a given one), each killed by `killAll()` or when this
 * process exits. Test processes write to a log file each, kept for diagnosis (path in the error),
 * so a test can also grep a process's log (e.g. to prove an API key never reaches it); the
 * benchmarks' and the demo's write to the console.
 *
 * Spawned processes run dist/ (what `npm start` and the image run). Under Jest, `ensureBuilt()`
 * rebuilds it once when it is missing or older than the sources, so `npx jest test/reliability`
 * works on a fresh checkout; set RELIABILITY_NO_BUILD=1 to fail instead (CI builds right before the
 * tests), or RELIABILITY_DIST=<dir> to run another build of the tree as it is.
 */
import { ChildProcess, spawn, spawnSync, StdioOptions } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { SimulatorStats } from '../../../simulator/simulator';
import { until } from './wait';

/** The repository: the first folder up from here with a package.json (from test/ or from dist/test/). */
function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const ROOT = findRoot(__dirname);
/** RELIABILITY_DIST points at another build of the same tree (used as is, never rebuilt). */
const CUSTOM_DIST = process.env.RELIABILITY_DIST ? resolve(process.env.RELIABILITY_DIST) : null;
export const DIST = CUSTOM_DIST ?? join(ROOT, 'dist');
const SERVICE_MAIN = join(DIST, 'src', 'main.js');
const SIMULATOR_MAIN = join(DIST, 'simulator', 'main.js');

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

// Running compiled (the benchmarks, the demo), this file is part of the build it would check.
let buildChecked = __filename.endsWith('.js');

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

/** Where a child's output goes: a log file of its own, or this process's console. */
export type Output = 'log' | { console: { stdout: boolean } };

/** One spawned child, its output teed to a log file (or the console). */
export class ManagedProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string | null,
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
    output: Output = 'log',
  ): Promise<ManagedProcess> {
    if (output !== 'log') {
      const stdio: StdioOptions = ['ignore', output.console.stdout ? 'inherit' : 'ignore', 'inherit'];
      return new ManagedProcess(name, spawn(command, args, { env: env as NodeJS.ProcessEnv, stdio }), null);
    }
    const file = join(await logDirectory(), `${name}-${Date.now()}.log`);
    const log = createWriteStream(file);
    const child = spawn(command, args, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.once('exit', () => setTimeout(() => log.end(), 50));
    return new ManagedProcess(name, child, file);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  /** Everything the process wrote so far (stdout and stderr); empty when it writes to the console. */
  output(): string {
    try {
      return this.logFile ? readFileSync(this.logFile, 'utf8') : '';
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

/**
 * For a command-line program (benchmarks, demo): Ctrl-C or SIGTERM stops the children too, and
 * exits unless the program handles the signal itself.
 */
export function stopChildrenOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      for (const p of live) p.kill('SIGTERM');
      if (process.listenerCount(sig) === 1) process.exit(130);
    });
  }
}

async function waitHttpOk(url: string, timeoutMs: number, proc: ManagedProcess): Promise<void> {
  const died = (): Error =>
    new Error(
      `${proc.name} exited during start:\n${proc.output().slice(-4000) || '(output on the console)'}`,
    );
  await until(
    async () => {
      if (!proc.running) throw died();
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return res.ok;
    },
    timeoutMs,
    `${url} to answer 200`,
    100,
  ).catch((err: Error) => {
    // The process died: that error says why, not the timeout.
    throw proc.running ? err : died();
  });
}

export interface StartOptions {
  /** The port of `url` (PORT, or METRICS_PORT for a worker); a free one by default. */
  port?: number;
  /**
   * Start from this process's environment rather than a clean one (the benchmarks and the demo:
   * settings exported in the shell reach the service).
   */
  inheritEnv?: boolean;
  output?: Output;
  heapMb?: number;
  /**
   * The simulator's listen address (SIM_HOST), 127.0.0.1 by default. Linux routes all of 127/8 to
   * the loopback, so several simulators can share one port on 127.0.0.1, 127.0.0.2, ... as the
   * pods behind a headless Service share theirs.
   */
  host?: string;
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
  { port, inheritEnv = false, output = 'log', heapMb = 192 }: StartOptions = {},
): Promise<ServiceProcess> {
  ensureBuilt();
  const ownPort = port ?? (await freePort());
  const apiPort = role === 'worker' ? await freePort() : ownPort;
  const metricsPort = role === 'worker' ? ownPort : await freePort();
  const adminPort = await freePort();
  const base = inheritEnv
    ? process.env
    : {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'production',
        LOG_LEVEL: 'info',
        // A debugging aid: e.g. RELIABILITY_NODE_OPTIONS="--require ./trace.js" for the service processes.
        NODE_OPTIONS: process.env.RELIABILITY_NODE_OPTIONS,
      };
  // The same V8 flags as `npm start`: without a heap cap V8 lets garbage pile up to hundreds of MB.
  const semiSpaceMb = process.env.NODE_SEMI_SPACE_MB ?? '32';
  const proc = await ManagedProcess.spawn(
    name,
    process.execPath,
    [`--max-old-space-size=${heapMb}`, `--max-semi-space-size=${semiSpaceMb}`, SERVICE_MAIN],
    {
      ...base,
      ...env,
      APP_ROLE: role,
      PORT: String(apiPort),
      METRICS_PORT: String(metricsPort),
      ADMIN_PORT: String(adminPort),
    },
    output,
  );
  const url = `http://127.0.0.1:${ownPort}`;
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

export type SimStats = SimulatorStats;

export interface SimulatorProcess {
  proc: ManagedProcess;
  /** http://HOST:PORT (127.0.0.1 unless started with another host) */
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
  { port, inheritEnv = false, output = 'log', host }: StartOptions = {},
): Promise<SimulatorProcess> {
  ensureBuilt();
  const simPort = port ?? (await freePort());
  const base = inheritEnv ? process.env : { PATH: process.env.PATH };
  const proc = await ManagedProcess.spawn(
    name,
    process.execPath,
    [SIMULATOR_MAIN],
    { ...base, ...env, SIM_PORT: String(simPort), ...(host === undefined ? {} : { SIM_HOST: host }) },
    output,
  );
  const origin = `http://${host ?? '127.0.0.1'}:${simPort}`;
  await waitHttpOk(`${origin}/health`, 30_000, proc);
  const post = async (path: string, body: unknown): Promise<void> => {
    const res = await fetch(`${origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`simulator ${path}: ${res.status} ${await res.text()}`);
  };
  return {
    proc,
    base: origin,
    url: `${origin}/v1`,
    async stats() {
      return (await (await fetch(`${origin}/sim/stats`)).json()) as SimStats;
    },
    reset: () => post('/sim/reset', {}),
    setFaults: (faults) => post('/sim/faults', faults),
    setOptions: (options) => post('/sim/options', options),
  };
}
