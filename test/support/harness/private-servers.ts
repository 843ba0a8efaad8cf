/**
 * Private redis-server and PostgreSQL instances on free ports, for tests that stop or restart them:
 * the machine's own servers are never touched.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ManagedProcess } from './processes';
import { sleep, until } from './wait';

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
    // The restart tests need a PostgreSQL of their own to stop; without the server's binaries they
    // fail here, saying why, instead of being skipped.
    if (!existsSync(join(PG_BIN, 'initdb')))
      throw new Error(`no PostgreSQL server binaries at ${PG_BIN} (install postgresql, or set PG_BIN)`);
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
