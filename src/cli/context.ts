/**
 * What every command gets: where to write, the environment, the clients (the SDK for the batch API,
 * AdminClient for the admin API, each built on first use from the flags or the environment) and
 * Ctrl-C as an abort signal. Injected, so tests can run a command in-process as well as spawn the
 * built CLI.
 */
import OpenAI from 'openai';
import { AdminClient } from './admin-client';
import { CliError } from './errors';

export interface CliStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface CliIo {
  stdout: CliStream;
  stderr: CliStream;
  env: NodeJS.ProcessEnv;
  /** Calls `handler` on the next Ctrl-C (SIGINT); returns the function that stops listening. */
  onInterrupt(handler: () => void): () => void;
}

/** The base URL when neither --base-url nor OPENAI_BASE_URL names one: the service's default port. */
export const DEFAULT_BASE_URL = 'http://127.0.0.1:4080/v1';
/** The admin API's origin when neither --admin-url nor VLLM_BATCH_ADMIN_URL names one (ADMIN_PORT's default). */
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:4081';

export interface GlobalOptions {
  baseUrl?: string;
  apiKey?: string;
  json?: boolean;
  /** The `admin` command's connection (see admin-client.ts). */
  adminUrl?: string;
  adminUser?: string;
  adminPassword?: string;
}

export class CliContext {
  private sdk: OpenAI | null = null;
  private adminApi: AdminClient | null = null;
  readonly baseUrl: string;
  /** Set when the base URL came from a flag, so a printed resume command names it too. */
  readonly baseUrlFlag: string | undefined;

  constructor(
    readonly io: CliIo,
    private readonly options: GlobalOptions,
  ) {
    this.baseUrlFlag = options.baseUrl;
    this.baseUrl = (options.baseUrl ?? io.env.OPENAI_BASE_URL ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
  }

  get json(): boolean {
    return this.options.json === true;
  }

  /** Live bars only for a person at a terminal: never with --json, never into a pipe or file. */
  get interactive(): boolean {
    return !this.json && this.io.stderr.isTTY === true;
  }

  get client(): OpenAI {
    if (!this.sdk) {
      this.sdk = new OpenAI({
        baseURL: this.baseUrl,
        // A service running open takes any key; the SDK refuses to start without one.
        apiKey: this.options.apiKey ?? this.io.env.OPENAI_API_KEY ?? 'no-key',
        // The SDK would otherwise read OPENAI_ORG_ID / OPENAI_PROJECT_ID into headers we do not use.
        organization: null,
        project: null,
      });
    }
    return this.sdk;
  }

  /** The admin API's client: --admin-url/--admin-user/--admin-password, else the environment. */
  get admin(): AdminClient {
    if (!this.adminApi) {
      const { env } = this.io;
      const url = this.options.adminUrl ?? env.VLLM_BATCH_ADMIN_URL ?? DEFAULT_ADMIN_URL;
      const user = this.options.adminUser ?? env.ADMIN_USER;
      const password = this.options.adminPassword ?? env.ADMIN_PASSWORD;
      if (!user || password === undefined) {
        throw new CliError(
          'The admin API needs the admin credentials: set ADMIN_USER and ADMIN_PASSWORD (or --admin-user and --admin-password).',
        );
      }
      this.adminApi = new AdminClient(url.replace(/\/+$/, ''), { user, password });
    }
    return this.adminApi;
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Notes for the person (progress, hints): on stderr, so stdout stays the command's result. */
  note(text: string): void {
    if (!this.json) this.io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /**
   * Runs `fn` with a signal that Ctrl-C aborts; `interrupted()` tells afterwards whether it did.
   * A second Ctrl-C is Node's default again: it ends the process at once.
   */
  async interruptible<T>(fn: (signal: AbortSignal, interrupted: () => boolean) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const stop = this.io.onInterrupt(() => controller.abort());
    try {
      return await fn(controller.signal, () => controller.signal.aborted);
    } finally {
      stop();
    }
  }
}
