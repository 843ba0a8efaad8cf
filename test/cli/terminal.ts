/**
 * A real terminal for the built CLI: a tmux server of its own (a socket per Terminal, so tests never
 * meet each other's or the developer's sessions), a session per command, the screen read back with
 * capture-pane. The command's exit code is written to a file, since the pane outlives the command.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '../support/harness';
import { CLI_MAIN } from './run-cli';

let sockets = 0;

export class Terminal {
  private readonly socket = `vllm-batch-cli-${process.pid}-${++sockets}`;

  /** `dir`: where the commands run and their exit codes are kept; `env`: all the CLI sees of one. */
  constructor(
    private readonly dir: string,
    private readonly env: Record<string, string>,
  ) {}

  /** Starts `vllm-batch <args>` in a new 160×20 session named `session`. */
  run(session: string, args: string[]): void {
    const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;
    const command = [
      'cd',
      quote(this.dir),
      '&&',
      ...[
        'env',
        ...Object.entries(this.env).map(([k, v]) => `${k}=${v}`),
        process.execPath,
        CLI_MAIN,
        ...args,
      ].map(quote),
    ].join(' ');
    // The pane stays open after the command (sleep) so that its last screen can still be read.
    this.tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '160',
      '-y',
      '20',
      `${command}; echo $? > ${quote(this.codeFile(session))}; sleep 600`,
    );
  }

  /** The screen of `session` as it is now; `joined`: wrapped lines joined back into one. */
  screen(session: string, joined = false): string {
    return this.tmux('capture-pane', '-p', ...(joined ? ['-J'] : []), '-t', session);
  }

  /** Keys typed into the session, e.g. `C-c`. */
  sendKeys(session: string, ...keys: string[]): void {
    this.tmux('send-keys', '-t', session, ...keys);
  }

  /** The exit code of the command in `session`, once it has ended. */
  async exitCode(session: string, timeoutMs = 60_000): Promise<number> {
    const file = this.codeFile(session);
    await until(() => existsSync(file), timeoutMs, `the command in ${session} to end`);
    return Number(readFileSync(file, 'utf8').trim());
  }

  /** Ends the tmux server and every session in it. */
  close(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // already gone
    }
  }

  private codeFile(session: string): string {
    return join(this.dir, `${this.socket}-${session}.exit-code`);
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }
}
