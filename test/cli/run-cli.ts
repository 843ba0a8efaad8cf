/**
 * The built `vllm-batch` command as a user runs it: a child process (dist/src/cli/main.js, what the
 * package's `bin` names), its stdout and stderr kept apart, its exit code.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { DIST, until } from '../support/harness';

export const CLI_MAIN = join(DIST, 'src', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class CliProcess {
  private out = '';
  private err = '';
  readonly exited: Promise<CliResult>;
  private readonly child: ChildProcess;

  constructor(args: string[], env: Record<string, string>, cwd?: string) {
    // Only what the test names: no OPENAI_* from the developer's shell leaks into a run.
    this.child = spawn(process.execPath, [CLI_MAIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => (this.out += s));
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.err += s));
    this.exited = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('close', (code, signal) => resolve({ code, signal, stdout: this.out, stderr: this.err }));
    });
  }

  get stderr(): string {
    return this.err;
  }

  /** Waits until stderr holds `text` (the process still running), e.g. a watch that has started. */
  async waitForStderr(text: string | RegExp, timeoutMs = 30_000): Promise<void> {
    await until(
      () => {
        if (this.child.exitCode !== null) throw new Error(`exited early:\n${this.out}\n${this.err}`);
        return typeof text === 'string' ? this.err.includes(text) : text.test(this.err);
      },
      timeoutMs,
      `the CLI to print ${String(text)}`,
      20,
    );
  }

  interrupt(): void {
    this.child.kill('SIGINT');
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** Runs the CLI to its end. */
export function runCli(args: string[], env: Record<string, string>, cwd?: string): Promise<CliResult> {
  return new CliProcess(args, env, cwd).exited;
}

/** Parses a `--json` run's stdout (one JSON document). */
export function jsonOf<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${r.code}):\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}
