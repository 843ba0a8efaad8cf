/**
 * The failures a command ends with, and the one place that words them for a person: an API's error
 * envelope, a service that cannot be reached. Each becomes a CliError (a message, an exit code, the
 * details --json prints).
 */
import OpenAI from 'openai';

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

/** The message for an error the SDK threw, in words a person can act on. */
export function describeApiError(err: unknown, baseUrl: string): CliError | null {
  if (err instanceof OpenAI.APIConnectionTimeoutError) {
    return new CliError(`${baseUrl} did not answer in time.`);
  }
  if (err instanceof OpenAI.APIConnectionError) {
    return unreachable(err, `the batch service at ${baseUrl}`, 'Set --base-url or OPENAI_BASE_URL.');
  }
  if (err instanceof OpenAI.APIError) {
    const body = (err.error ?? {}) as { message?: unknown };
    return apiFailure(
      {
        status: err.status,
        message: typeof body.message === 'string' ? body.message : err.message,
        type: err.type,
        code: err.code,
        param: err.param,
      },
      err.status === 401 ? 'Set OPENAI_API_KEY or --api-key to a key of this service.' : '',
    );
  }
  return null;
}

/** An answer in OpenAI's error envelope: `401 invalid_api_key: <its message> <hint>`. */
export function apiFailure(
  e: {
    status?: number;
    message: string;
    type?: string | null;
    code?: string | null;
    param?: string | null;
  },
  hint = '',
): CliError {
  const label = [e.status, e.code].filter((v) => v !== undefined && v !== null).join(' ');
  return new CliError(`${label ? `${label}: ` : ''}${e.message}${hint ? ` ${hint}` : ''}`, EXIT.error, {
    status: e.status ?? null,
    type: e.type ?? null,
    code: e.code ?? null,
    param: e.param ?? null,
  });
}

/** A request that never got an answer: what could not be reached, why (refused, unknown host), what to set. */
export function unreachable(err: Error, what: string, hint: string): CliError {
  const cause = rootCause(err);
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code === 'ENOTFOUND'
        ? 'unknown host'
        : (code ?? cause?.message ?? err.message);
  return new CliError(`Cannot reach ${what} (${why}). Is it running? ${hint}`, EXIT.error, {
    type: 'connection_error',
    code: code ?? null,
  });
}

function rootCause(err: Error): Error | undefined {
  let cause: unknown = err.cause;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  return cause instanceof Error ? cause : undefined;
}
