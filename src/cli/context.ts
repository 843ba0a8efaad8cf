/**
 * What every command gets: where to write, the environment, the SDK client (built on first use from
 * the flags or OpenAI's own variables) and Ctrl-C as an abort signal. Injected, so tests can run a
 * command in-process as well as spawn the built CLI.
 */
import OpenAI from 'openai';

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

/** Exit codes: 0 completed without a failed line, 2 completed with some, 1 anything else that went wrong. */
export const EXIT = { ok: 0, error: 1, failedLines: 2, interrupted: 130 } as const;

/** An expected failure: its message is printed alone (no stack), then the process exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number = EXIT.error,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface GlobalOptions {
  baseUrl?: string;
  apiKey?: string;
  json?: boolean;
}

export class CliContext {
  private sdk: OpenAI | null = null;
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

/** The message for an error the SDK threw, in words a person can act on. */
export function describeApiError(err: unknown, baseUrl: string): CliError | null {
  if (err instanceof OpenAI.APIConnectionTimeoutError) {
    return new CliError(`${baseUrl} did not answer in time.`);
  }
  if (err instanceof OpenAI.APIConnectionError) {
    const cause = rootCause(err);
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const why =
      code === 'ECONNREFUSED'
        ? 'connection refused'
        : code === 'ENOTFOUND'
          ? 'unknown host'
          : (code ?? cause?.message ?? err.message);
    return new CliError(
      `Cannot reach the batch service at ${baseUrl} (${why}). Is it running? Set --base-url or OPENAI_BASE_URL.`,
      EXIT.error,
      { type: 'connection_error', code: code ?? null },
    );
  }
  if (err instanceof OpenAI.APIError) {
    const body = (err.error ?? {}) as { message?: unknown };
    const message = typeof body.message === 'string' ? body.message : err.message;
    const hint = err.status === 401 ? ' Set OPENAI_API_KEY or --api-key to a key of this service.' : '';
    const label = [err.status, err.code].filter((v) => v !== undefined && v !== null).join(' ');
    return new CliError(`${label ? `${label}: ` : ''}${message}${hint}`, EXIT.error, {
      status: err.status ?? null,
      type: err.type ?? null,
      code: err.code ?? null,
      param: err.param ?? null,
    });
  }
  return null;
}

function rootCause(err: Error): Error | undefined {
  let cause: unknown = err.cause;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  return cause instanceof Error ? cause : undefined;
}
